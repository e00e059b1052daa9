//! The measured loop: the batch reader feeds the renderer, and every device
//! goes through `deliver` on the production APNs / FCM / Web Push clients,
//! with a bounded number of requests in flight.

use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::stream::{FuturesUnordered, StreamExt};
use serde::Serialize;
use shared::apps::{ApnsEnvironment, Route};
use shared::batch::{Device, EntryReader, Platform};
use shared::push::Providers;
use shared::push::apns::{ApnsClient, TokenSigner};
use shared::push::fcm::FcmClient;
use shared::push::h2::PoolOptions;
use shared::push::retry::{Final, RetryPolicy, deliver};
use shared::push::vapid::{VapidKey, VapidSigner};
use shared::push::webpush::{WebPushClient, WebPushOptions};
use shared::render::{Payloads, Renderer};

use crate::cpu;
use crate::payload::{layout, open_at};

#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// Batch file (.jsonl or .json).
    #[arg(long)]
    pub file: PathBuf,
    /// Extra root CA (the sandbox's ca.pem).
    #[arg(long)]
    pub ca: PathBuf,
    #[arg(long)]
    pub apns_endpoint: String,
    #[arg(long)]
    pub apns_key: PathBuf,
    #[arg(long, default_value = "PUSHBATCH1")]
    pub apns_key_id: String,
    #[arg(long, default_value = "PUSHBATCHT")]
    pub apns_team_id: String,
    #[arg(long, default_value = "com.example.app")]
    pub apns_topic: String,
    #[arg(long)]
    pub fcm_endpoint: String,
    /// FCM service-account JSON (its token_uri is the sandbox's /token).
    #[arg(long)]
    pub fcm_service_account: PathBuf,
    /// The VAPID private key (PEM or base64url scalar): sends web users too.
    #[arg(long)]
    pub webpush_key: Option<PathBuf>,
    #[arg(long, default_value = "mailto:bench@example.com")]
    pub webpush_subject: String,
    /// Requests in flight, every provider together.
    #[arg(long, default_value_t = 1000)]
    pub in_flight: usize,
    #[arg(long, default_value_t = 4)]
    pub apns_connections: usize,
    #[arg(long, default_value_t = 2)]
    pub fcm_connections: usize,
    /// FCM rate limit per minute; 0 is none (the production default, 600000,
    /// would cap FCM at 10k/s and measure the limiter, not the send path).
    #[arg(long, default_value_t = 0)]
    pub fcm_rate_per_minute: u32,
    /// Stop after this many users (0: the whole file).
    #[arg(long, default_value_t = 0)]
    pub limit: u64,
    /// Give up (error) after this long.
    #[arg(long, default_value_t = 600)]
    pub max_seconds: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub users: u64,
    pub invalid_entries: u64,
    pub devices: u64,
    pub ios: u64,
    pub android: u64,
    pub web: u64,
    pub delivered: u64,
    pub dead: u64,
    pub failed: u64,
    pub retries: u64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub in_flight: usize,
    pub apns_connections: usize,
    pub fcm_connections: usize,
    pub runtime: &'static str,
    pub counts: Counts,
    /// From the first read to the last answer; excludes connection setup.
    pub elapsed_seconds: f64,
    pub notifications_per_second: f64,
    /// CPU (user + system) this process used while sending.
    pub cpu_seconds: f64,
    pub cpu_microseconds_per_notification: f64,
    /// A few failure reasons, to debug a run that did not deliver everything.
    pub failure_samples: Vec<String>,
}

type Pending<'a> = Pin<Box<dyn Future<Output = (Platform, Final, u32)> + 'a>>;

pub async fn run(args: &SendArgs) -> anyhow::Result<Report> {
    let layout = layout(&args.file).await?;
    let renderer = Renderer::new(&layout.header, &args.apns_topic)?;
    let providers = providers(args)?;
    let policy = RetryPolicy::default();
    warm_up(&providers, &renderer, first_web_device(args, &layout).await?).await?;

    let mut reader = EntryReader::new(
        open_at(&args.file, layout.users_start).await?,
        layout.users_start,
        layout.encoding,
        layout.first_line,
    );
    let mut counts = Counts::default();
    let mut failure_samples = Vec::new();
    let mut pending: FuturesUnordered<Pending<'_>> = FuturesUnordered::new();
    // Devices of the user being fanned out, waiting for room in flight.
    let mut queue: Vec<(Device, Payloads)> = Vec::new();
    let mut exhausted = false;
    let in_flight = args.in_flight.max(1);

    let cpu_start = cpu::process_time();
    let start = Instant::now();
    loop {
        while pending.len() < in_flight {
            if let Some((device, payloads)) = queue.pop() {
                let (providers, policy, renderer) = (&providers, &policy, &renderer);
                pending.push(Box::pin(async move {
                    let route = route_of(device.platform, renderer);
                    let (outcome, retries) =
                        deliver(providers, policy, &route, &device, &payloads, renderer.headers()).await;
                    (device.platform, outcome, retries)
                }));
                continue;
            }
            if exhausted || (args.limit > 0 && counts.users + counts.invalid_entries >= args.limit) {
                break;
            }
            let Some(item) = reader.next_entry().await? else {
                exhausted = true;
                break;
            };
            let Ok(user) = item.entry else {
                counts.invalid_entries += 1;
                continue;
            };
            counts.users += 1;
            // Rendering errors are per user; the generated file has none, so count as failed.
            let payloads = match renderer.for_user(&user.vars) {
                Ok(p) => p,
                Err(e) => {
                    counts.failed += 1;
                    sample(&mut failure_samples, e.to_string());
                    continue;
                }
            };
            for device in user.devices.unwrap_or_default() {
                queue.push((device, payloads.clone()));
            }
        }
        let Some((platform, outcome, retries)) = pending.next().await else { break };
        counts.devices += 1;
        counts.retries += u64::from(retries);
        match platform {
            Platform::Ios => counts.ios += 1,
            Platform::Android => counts.android += 1,
            Platform::Web => counts.web += 1,
        }
        match outcome {
            Final::Delivered(_) => counts.delivered += 1,
            Final::Dead(_) => counts.dead += 1,
            Final::Failed(reason) => {
                counts.failed += 1;
                sample(&mut failure_samples, reason);
            }
        }
    }
    let elapsed = start.elapsed();
    let cpu = cpu::process_time().saturating_sub(cpu_start);
    let per_second = counts.devices as f64 / elapsed.as_secs_f64().max(1e-9);
    Ok(Report {
        in_flight,
        apns_connections: args.apns_connections,
        fcm_connections: args.fcm_connections,
        runtime: "tokio current_thread",
        elapsed_seconds: elapsed.as_secs_f64(),
        notifications_per_second: per_second,
        cpu_seconds: cpu.as_secs_f64(),
        cpu_microseconds_per_notification: cpu.as_secs_f64() * 1e6 / (counts.devices.max(1) as f64),
        counts,
        failure_samples,
    })
}

fn sample(samples: &mut Vec<String>, reason: String) {
    if samples.len() < 5 {
        samples.push(reason);
    }
}

fn providers(args: &SendArgs) -> anyhow::Result<Providers> {
    let tls = shared::push::client_config(Some(&args.ca))?;
    let timeout = Duration::from_secs(30);
    let key = std::fs::read(&args.apns_key).with_context(|| format!("reading {}", args.apns_key.display()))?;
    let signer = TokenSigner::new(&key, &args.apns_key_id, &args.apns_team_id)?;
    // Each pool may use the whole budget: the loop above bounds the total.
    let apns = ApnsClient::new(
        &args.apns_endpoint,
        tls.clone(),
        &PoolOptions { connections: args.apns_connections, max_in_flight: args.in_flight, request_timeout: timeout },
        signer,
    )?;
    let account = std::fs::read_to_string(&args.fcm_service_account)
        .with_context(|| format!("reading {}", args.fcm_service_account.display()))?;
    let rate = (args.fcm_rate_per_minute > 0).then_some(args.fcm_rate_per_minute);
    let fcm = FcmClient::new(
        &args.fcm_endpoint,
        tls,
        &PoolOptions { connections: args.fcm_connections, max_in_flight: args.in_flight, request_timeout: timeout },
        &account,
        None,
        rate,
    )?;
    let webpush = match &args.webpush_key {
        Some(path) => {
            let key = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let signer = VapidSigner::new(VapidKey::parse(&key)?, &args.webpush_subject)?;
            let options = WebPushOptions { max_in_flight: args.in_flight, request_timeout: timeout };
            Some(WebPushClient::new(&shared::push::client_config(Some(&args.ca))?, signer, &options))
        }
        None => None,
    };
    Ok(Providers { apns: Some(apns), fcm: Some(fcm), webpush, ..Providers::default() })
}

/// A web device of the file's first users, to open the connection to its
/// push service before the clock starts.
async fn first_web_device(args: &SendArgs, layout: &shared::batch::Layout) -> anyhow::Result<Option<Device>> {
    if args.webpush_key.is_none() {
        return Ok(None);
    }
    let inner = open_at(&args.file, layout.users_start).await?;
    let mut reader = EntryReader::new(inner, layout.users_start, layout.encoding, layout.first_line);
    for _ in 0..16 {
        let Some(item) = reader.next_entry().await? else { break };
        let web = item.entry.ok().and_then(|u| u.devices).into_iter().flatten().find(|d| d.platform == Platform::Web);
        if web.is_some() {
            return Ok(web);
        }
    }
    Ok(None)
}

/// The one app of the benchmark: send-batch routes a device without an app
/// the same way.
fn route_of(platform: Platform, renderer: &Renderer) -> Route {
    match platform {
        Platform::Ios => {
            Route::Apns { environment: ApnsEnvironment::Production, topic: renderer.apns_headers().wire.topic.clone() }
        }
        Platform::Android => Route::Fcm { project: None },
        Platform::Web => Route::WebPush,
    }
}

/// Opens every connection and fetches the OAuth token before the clock starts,
/// as a warm Lambda container would have them. The warm-up tokens start with
/// `dead` so they are not counted as deliveries by the sandbox; the web one
/// goes to a subscription that does not exist on the same push service.
async fn warm_up(providers: &Providers, renderer: &Renderer, web: Option<Device>) -> anyhow::Result<()> {
    let payloads = renderer.for_user(&Default::default())?;
    let policy = RetryPolicy { max_attempts: 1, ..RetryPolicy::default() };
    let ios = Device::new(Platform::Ios, format!("dead{}", "0".repeat(60)));
    let android = Device::new(Platform::Android, format!("dead{}", "A".repeat(148)));
    let web = match web {
        Some(d) => {
            let uri: http::Uri = d.token.parse().with_context(|| format!("the endpoint {}", d.token))?;
            let origin = shared::push::webpush::origin(&uri);
            Some(Device { token: format!("{origin}/wp/{}", "0".repeat(32)), ..d })
        }
        None => None,
    };
    let conns = providers.apns.as_ref().map_or(1, |_| 8);
    let mut warm = FuturesUnordered::new();
    let devices = (0..conns).map(|i| if i % 2 == 0 { &ios } else { &android }).chain(web.as_ref());
    for device in devices {
        let (payloads, policy) = (&payloads, &policy);
        warm.push(async move {
            let route = route_of(device.platform, renderer);
            deliver(providers, policy, &route, device, payloads, renderer.headers()).await.0
        });
    }
    while let Some(outcome) = warm.next().await {
        if let Final::Failed(reason) = outcome {
            anyhow::bail!("warm-up request failed: {reason}");
        }
    }
    Ok(())
}
