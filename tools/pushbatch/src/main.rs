//! `pushbatch`: dispatches to the library's command groups.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use pushbatch::context::{Context, GlobalArgs};
use pushbatch::local::cli::LocalCommand;
use pushbatch::seed::cli::SeedArgs;

#[derive(Debug, Parser)]
#[command(name = "pushbatch", version, about = "pushbatch: send batch push notifications, and run the local stack")]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The local stack (emulators, push sandbox, event plane, watch)
    #[command(subcommand)]
    Local(LocalCommand),
    /// Write synthetic users: devices, and profiles for the campaigns
    Seed(SeedArgs),
    /// Upload a batch file to batches/, follow its job, print the summary
    Send(pushbatch::jobs::SendArgs),
    /// Show a job's progress (and its control) or its summary
    Status(pushbatch::jobs::StatusArgs),
    /// What became of one user in a job: sent, skipped (why), failed (why), due later
    Why(pushbatch::why::WhyArgs),
    /// List the jobs that are running, paused or scheduled, newest first
    Jobs(pushbatch::controls::JobsArgs),
    #[command(flatten)]
    Control(pushbatch::controls::ControlCommand),
    /// Scheduled campaigns: run a day, per-variant results
    #[command(subcommand)]
    Campaign(pushbatch::campaign::CampaignCommand),
    /// Check a batch file offline: counts, invalid entries, malformed JSON
    Validate(pushbatch::validate::ValidateArgs),
    /// The main job on the local stack: up, seed, send, check against the sandbox
    Demo(pushbatch::demo::DemoArgs),
    /// What the CloudWatch dashboard would show, from the local stack's metrics
    Metrics(pushbatch::metrics::MetricsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let ctx = Context::resolve(&cli.global)?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        Ok(match cli.command {
            Command::Local(command) => pushbatch::local::cli::run(command, &ctx).await?,
            Command::Seed(args) => pushbatch::seed::cli::run(args, &ctx).await?,
            Command::Send(args) => pushbatch::jobs::send(&ctx.env()?, args).await?,
            Command::Status(args) => pushbatch::jobs::status(&ctx.env()?, args).await?,
            Command::Why(args) => pushbatch::why::run(&ctx.env()?, args).await?,
            Command::Jobs(args) => pushbatch::controls::list(&ctx.env()?, args).await?,
            Command::Control(command) => pushbatch::controls::run(&ctx.env()?, command).await?,
            Command::Campaign(command) => pushbatch::campaign::dispatch(&ctx.env()?, command).await?,
            Command::Validate(args) => pushbatch::validate::run(args).await?,
            Command::Demo(args) => pushbatch::demo::run(args, &ctx).await?,
            Command::Metrics(args) => pushbatch::metrics::run(args, &ctx)?,
        })
    })
}

/// JSON logs on stderr; quiet by default (`RUST_LOG=info` shows each step),
/// because stdout carries the command's own output.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init();
}
