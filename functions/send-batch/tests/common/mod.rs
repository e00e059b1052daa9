//! Test helpers shared by the in-process chain and shard tests: in-memory
//! ports, a population with every kind of device, batch files, invoking.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lambda_runtime::{Config, Context, LambdaEvent};
use send_batch::deps::Deps;
use send_batch::handler::handle;
use send_batch::settings::{FcmSettings, Settings};
use serde_json::{Value, json};
use shared::apps::{Apps, Route};
use shared::batch::{Device, Platform};
use shared::caps::MemoryCaps;
use shared::config::SecretSource;
use shared::devices::{DeviceLookup, DevicePrune, MemoryDevices, UserDevices};
use shared::invoke::RecordingInvoker;
use shared::jobs::MemoryJobs;
use shared::objects::MemoryObjects;
use shared::push::PushSend;
use shared::push::retry::RetryPolicy;
use shared::push::{Outcome, Receipt};
use shared::quota::MemoryQuotaBuckets;
use shared::render::{Headers, Payloads};
use shared::report::Summary;
use shared::schedules::{MemorySchedules, ScheduleTarget};
use shared::shards::ShardPolicy;

pub const BUCKET: &str = "bucket";

/// A provider that answers by token prefix and counts deliveries per token.
/// A token listed in `owners` belongs to that app (its APNs topic): sent as
/// another, it is refused as APNs refuses it. A web endpoint ending in
/// `/gone` answers as an expired subscription does, one in `/refused` as a
/// push service refusing the message.
#[derive(Default)]
pub struct FakePush {
    pub delivered: Mutex<HashMap<String, u32>>,
    flaky_seen: Mutex<HashSet<String>>,
    pub owners: Mutex<HashMap<String, String>>,
    /// The route each token was last sent by.
    pub routes: Mutex<HashMap<String, Route>>,
    /// What each token was last sent.
    pub sent: Mutex<HashMap<String, Sent>>,
}

/// One request: the body its provider got (the APNs payload, the FCM body,
/// or the Web Push plaintext before encryption) and the job's headers.
#[derive(Clone)]
pub struct Sent {
    pub route: Route,
    pub body: Value,
    pub headers: Headers,
}

/// What `FakePush` answers the `n`th delivery to `token` with: the field
/// its provider fills, naming the token and the delivery.
pub fn receipt(route: &Route, token: &str, n: u32) -> Receipt {
    let id = Some(format!("{token}#{n}"));
    match route {
        Route::Apns { .. } => Receipt { apns_id: id, ..Receipt::default() },
        Route::Fcm { .. } => Receipt { fcm_name: id, ..Receipt::default() },
        Route::WebPush => Receipt { webpush_location: id, ..Receipt::default() },
    }
}

impl PushSend for FakePush {
    async fn send(&self, route: &Route, device: &Device, payloads: &Payloads, headers: &Headers) -> Outcome {
        // A real send awaits the network: yielding lets a test stop a link
        // between two pushes (a crash).
        tokio::task::yield_now().await;
        let token = device.token.as_str();
        self.routes.lock().unwrap().insert(token.to_owned(), route.clone());
        let body = match route {
            Route::Apns { .. } => payloads.apns.clone(),
            Route::Fcm { .. } => payloads.fcm_body(token),
            Route::WebPush => payloads.web.clone(),
        };
        let body = serde_json::from_slice(&body).expect("every payload is JSON");
        self.sent
            .lock()
            .unwrap()
            .insert(token.to_owned(), Sent { route: route.clone(), body, headers: headers.clone() });
        if *route == Route::WebPush && token.ends_with("/gone") {
            return Outcome::Dead("410 Gone".into());
        }
        if *route == Route::WebPush && token.ends_with("/refused") {
            return Outcome::Failed("400 Undecryptable".into());
        }
        if let (Some(owner), Route::Apns { topic, .. }) = (self.owners.lock().unwrap().get(token), route)
            && topic != owner.as_str()
        {
            return Outcome::Failed("DeviceTokenNotForTopic".into());
        }
        if token.starts_with("dead") {
            return Outcome::Dead("Unregistered".into());
        }
        if token.starts_with("bad0") {
            return Outcome::Failed("MissingTopic".into());
        }
        if token.starts_with("f1a0") && self.flaky_seen.lock().unwrap().insert(token.to_owned()) {
            return Outcome::Retry { reason: "503".into(), after: Some(Duration::from_millis(1)) };
        }
        let mut delivered = self.delivered.lock().unwrap();
        let n = delivered.entry(token.to_owned()).or_default();
        *n += 1;
        Outcome::Delivered(receipt(route, token, *n))
    }
    async fn renew(&self, _: &Route) {}
}

/// In-memory ports with push `P` and devices `D` (the population's, or a
/// test's wrapper around them).
pub type Memory<P, D = MemoryDevices> =
    Deps<MemoryObjects, D, MemoryJobs, P, RecordingInvoker, MemorySchedules, MemoryQuotaBuckets, MemoryCaps>;

pub type TestDeps = Memory<FakePush>;

pub fn settings(batch_size: usize, max_run: Option<f64>) -> Settings {
    Settings {
        devices_table: "d".into(),
        jobs_table: "j".into(),
        batch_size,
        pipeline_batches: 4,
        max_run: max_run.map(Duration::from_secs_f64),
        margin_floor: Duration::ZERO,
        lease: Duration::from_millis(200),
        file_cache_max_bytes: 0,
        default_topic: "com.example".into(),
        apns: None,
        fcm: Some(FcmSettings {
            endpoint: "https://unused".into(),
            service_account: SecretSource::File("unused".into()),
            project_id: None,
            connections: 1,
            max_in_flight: 64,
            rate_per_minute: None,
        }),
        webpush: None,
        extra_ca: None,
        retry: RetryPolicy { max_attempts: 3, base: Duration::from_millis(1), cap: Duration::from_millis(2) },
        request_timeout: Duration::from_secs(1),
        shards: ShardPolicy::SINGLE_CHAIN,
        fcm_shared: None,
        apns_shared: None,
        apps: Apps::single(Some("com.example"), true).unwrap(),
        cap_per_day: None,
        category_caps: Default::default(),
        caps_table: "caps".into(),
        calendar: Default::default(),
        delivery_receipts: false,
        scheduler: Some(ScheduleTarget {
            group: "default".into(),
            role_arn: "arn:aws:iam::000000000000:role/scheduler".into(),
            dead_letter_arn: None,
        }),
        schedule_target_arn: None,
    }
}

pub fn ios_token(i: usize, prefix: &str) -> String {
    format!("{prefix}{:0>width$x}", i, width = 64 - prefix.len())
}

/// Users u-0..n: every 10th has a dead iOS token, every 7th also an Android
/// device, every 13th has pushes off, every 17th no item, every 23rd a token
/// that always fails, every 29th a token that fails once.
pub fn population(n: usize) -> MemoryDevices {
    MemoryDevices::with((0..n).filter(|i| i % 17 != 5).map(|i| {
        let prefix = match i {
            i if i % 10 == 3 => "dead",
            i if i % 23 == 4 => "bad0",
            i if i % 29 == 6 => "f1a0",
            _ => "",
        };
        let mut devices = vec![Device::new(Platform::Ios, ios_token(i, prefix))];
        if i % 7 == 0 {
            devices.push(Device::new(Platform::Android, format!("android-token-{i:08}-abcdefghijklmnop")));
        }
        (
            format!("u-{i}"),
            UserDevices {
                devices,
                push_enabled: i % 13 != 2,
                muted_categories: HashSet::new(),
                ..UserDevices::default()
            },
        )
    }))
}

pub fn deps(n: usize, batch_size: usize, max_run: Option<f64>) -> TestDeps {
    Deps {
        objects: MemoryObjects::default(),
        devices: population(n),
        jobs: MemoryJobs::default(),
        push: FakePush::default(),
        invoker: RecordingInvoker::default(),
        schedules: MemorySchedules::default(),
        rates: MemoryQuotaBuckets::default(),
        caps: MemoryCaps::default(),
        settings: settings(batch_size, max_run),
    }
}

pub fn header() -> Value {
    json!({"campaign": "test", "category": "news", "notification": {"title": "Hi", "body": "Hello {{name}}"}})
}

pub fn json_file(n: usize) -> String {
    let users: Vec<Value> = (0..n)
        .map(|i| {
            if i % 2 == 0 {
                json!(format!("u-{i}"))
            } else {
                json!({"user_id": format!("u-{i}"), "vars": {"name": format!("N{i}")}})
            }
        })
        .collect();
    let mut h = header();
    h["users"] = json!(users);
    h.to_string()
}

pub fn jsonl_file(n: usize) -> String {
    let mut out = header().to_string();
    for i in 0..n {
        out.push('\n');
        out.push_str(
            &if i % 2 == 0 {
                json!(format!("u-{i}"))
            } else {
                json!({"user_id": format!("u-{i}"), "vars": {"name": format!("N{i}")}})
            }
            .to_string(),
        );
    }
    out
}

pub fn s3_event(key: &str, etag: &str, sequencer: &str) -> Value {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-24T00:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "local"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "batches",
            "bucket": {"name": BUCKET, "ownerIdentity": {"principalId": "local"}, "arn": "arn:aws:s3:::bucket"},
            "object": {"key": key, "size": 1, "eTag": etag, "sequencer": sequencer}}
    }]})
}

pub async fn invoke<P: PushSend, D: DeviceLookup + DevicePrune>(d: &Memory<P, D>, payload: Value) -> Value {
    let mut context = Context::default();
    context.request_id = uuid::Uuid::new_v4().to_string();
    context.env_config = Arc::new(Config { function_name: "send-batch".into(), ..Config::default() });
    handle(d, LambdaEvent { payload, context }).await.expect("handler failed")
}

/// Runs queued continuations until the chain ends; returns the invocations.
pub async fn drain<P: PushSend, D: DeviceLookup + DevicePrune>(d: &Memory<P, D>) -> usize {
    let mut links = 0;
    loop {
        let queued = d.invoker.take();
        if queued.is_empty() {
            return links;
        }
        for (_, payload) in queued {
            invoke(d, serde_json::from_slice(&payload).unwrap()).await;
            links += 1;
        }
    }
}

/// Uploads `body` as `key`, runs the job's whole chain, returns its summary.
pub async fn run<P: PushSend>(d: &Memory<P>, key: &str, body: String) -> Summary {
    let etag = d.objects.insert(BUCKET, key, body);
    invoke(d, s3_event(key, &etag, "01")).await;
    drain(d).await;
    let job_id = {
        let jobs = d.jobs.records.lock().unwrap();
        jobs.values().find(|r| r.key == key && r.shard.is_none()).expect("a job for the file").job_id.clone()
    };
    serde_json::from_slice(&d.objects.get(BUCKET, &format!("reports/{job_id}/summary.json")).unwrap()).unwrap()
}

pub fn summary<P, D>(d: &Memory<P, D>) -> Summary {
    let jobs = d.jobs.records.lock().unwrap();
    let mut top = jobs.values().filter(|r| r.shard.is_none());
    let job = top.next().expect("a job record");
    assert!(top.next().is_none(), "one job");
    serde_json::from_slice(&d.objects.get(BUCKET, &format!("reports/{}/summary.json", job.job_id)).unwrap()).unwrap()
}

/// Runs a link until `pushes` devices have had a push, then drops it where
/// it stands, as a killed process would leave it.
pub async fn crash_after(d: &TestDeps, payload: Value, pushes: usize) {
    let run = invoke(d, payload);
    tokio::pin!(run);
    loop {
        tokio::select! {
            biased;
            _ = &mut run => panic!("the link ended before {pushes} pushes"),
            _ = tokio::task::yield_now() => {
                if d.push.delivered.lock().unwrap().len() >= pushes {
                    return;
                }
            }
        }
    }
}
