//! `sendpath`: drives pushbatch's own send path (batch reader, renderer,
//! APNs and FCM clients) against push-sandbox, for `bench/run`.
//!
//! Results go to stdout as one JSON object; logs go to stderr as JSON lines.

mod cpu;
mod generate;
mod payload;
mod render;
mod send;
mod web;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "sendpath", about = "pushbatch send-path benchmark driver")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Writes a JSONL batch file: one inline device per user, taking turns
    /// over the platforms (50/50 iOS / Android by default), no dead tokens.
    Generate {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        users: u64,
        /// Comma-separated: ios, android, web.
        #[arg(long, default_value = "ios,android")]
        platforms: String,
        /// The same text without its `{{name}}` placeholder.
        #[arg(long)]
        no_placeholders: bool,
        /// Subscriptions for web users (`sendpath subscribe`'s output).
        #[arg(long)]
        web_subscriptions: Option<PathBuf>,
    },
    /// Makes subscriptions on the push sandbox, as browsers would.
    Subscribe {
        /// The sandbox's plain listener, host:port.
        #[arg(long)]
        sandbox_http: String,
        #[arg(long, default_value_t = 100)]
        count: usize,
        #[arg(long)]
        out: PathBuf,
    },
    /// The CPU one Web Push message's encryption takes (RFC 8291), alone.
    Encrypt {
        #[arg(long)]
        file: PathBuf,
        #[arg(long, default_value_t = 20_000)]
        messages: u64,
    },
    /// Prints an APNs provider token (ES256 JWT) signed with a .p8 key.
    Jwt {
        #[arg(long)]
        key: PathBuf,
        #[arg(long, default_value = "PUSHBATCH1")]
        key_id: String,
        #[arg(long, default_value = "PUSHBATCHT")]
        team_id: String,
    },
    /// Prints an FCM OAuth access token for a service account (its token_uri decides where from).
    FcmToken {
        #[arg(long)]
        service_account: PathBuf,
    },
    /// Writes what the renderer makes of a batch file's first user: the APNs
    /// payload (for h2load) and the FCM body with `__TOKEN__` for the token.
    Payload {
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        apns_out: PathBuf,
        #[arg(long)]
        fcm_out: PathBuf,
        #[arg(long, default_value = "com.example.app")]
        topic: String,
    },
    /// Reads and renders every user of a batch file, without sending: CPU per user.
    Render {
        #[arg(long)]
        file: PathBuf,
        #[arg(long, default_value_t = 5)]
        passes: u32,
    },
    /// Sends every user of a batch file and prints the figures as JSON.
    Send(Box<send::SendArgs>),
}

// The same allocator as send-batch, so the bench measures what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    shared::logging::init_json();
    let cli = Cli::parse();
    // One thread on purpose: the benchmark's question is what one core sends.
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("building the tokio runtime")?;
    runtime.block_on(async move {
        match cli.command {
            Command::Generate { out, users, platforms, no_placeholders, web_subscriptions } => {
                let platforms = platforms
                    .split(',')
                    .map(|p| shared::batch::Platform::parse(p.trim()).with_context(|| format!("platform {p:?}")))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let subscriptions = match &web_subscriptions {
                    Some(path) => web::read_subscriptions(path)?,
                    None => Vec::new(),
                };
                let spec = generate::Spec { users, platforms, placeholders: !no_placeholders, subscriptions };
                let bytes = generate::write_file(&out, spec).await?;
                tracing::info!(path = %out.display(), users, bytes, "batch file written");
                Ok(())
            }
            Command::Jwt { key, key_id, team_id } => {
                let pem = std::fs::read(&key).with_context(|| format!("reading {}", key.display()))?;
                let signer = shared::push::apns::TokenSigner::new(&pem, &key_id, &team_id)?;
                println!("{}", signer.authorization()?.to_str()?.trim_start_matches("bearer "));
                Ok(())
            }
            Command::FcmToken { service_account } => {
                let json = std::fs::read_to_string(&service_account)
                    .with_context(|| format!("reading {}", service_account.display()))?;
                let account = gcp_auth::CustomServiceAccount::from_json(&json)?;
                let token = gcp_auth::TokenProvider::token(&account, &[shared::push::fcm::SCOPE]).await?;
                println!("{}", token.as_str());
                Ok(())
            }
            Command::Subscribe { sandbox_http, count, out } => web::subscribe(&sandbox_http, count, &out).await,
            Command::Encrypt { file, messages } => {
                println!("{}", serde_json::to_string(&web::encrypt(&file, messages).await?)?);
                Ok(())
            }
            Command::Render { file, passes } => {
                println!("{}", serde_json::to_string(&render::run(&file, passes).await?)?);
                Ok(())
            }
            Command::Payload { file, apns_out, fcm_out, topic } => {
                payload::write(&file, &apns_out, &fcm_out, &topic).await
            }
            Command::Send(args) => {
                let deadline = Duration::from_secs(args.max_seconds);
                let report = tokio::time::timeout(deadline, send::run(&args))
                    .await
                    .with_context(|| format!("the send did not finish within {deadline:?}"))??;
                println!("{}", serde_json::to_string(&report)?);
                Ok(())
            }
        }
    })
}
