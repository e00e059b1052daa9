//! `pushbatch local up|down|status`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use shared::schema::DEFAULT_LOCAL_BUCKET;

use super::parts::{Part, Ports};
use super::process::StopOutcome;
use super::stack_env::fn_env_from;
use super::{LocalError, StackConfig, StackRecord, down, status, up};
use crate::context::Context;
use crate::env_file::{EnvMap, parse_assignment};
use crate::table;

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Start every part that is not healthy, write stack.env, create the
    /// bucket and tables (idempotent)
    Up(UpArgs),
    /// Stop every part (SIGTERM, then SIGKILL) and remove pid files
    Down,
    /// Health of every part; exits 1 if any is down
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// First of 10 consecutive ports: +0 moto, +1 S3 proxy, +2 Lambda
    /// plane, +3 dynalite, +4 SES, +5 sandbox TLS, +6 sandbox HTTP, +7 watch,
    /// +8 API gateway, +9 issuer
    #[arg(long, env = "PUSHBATCH_PORT_BASE", default_value_t = Ports::DEFAULT_BASE)]
    pub port_base: u16,

    /// Bucket to create and to name in stack.env
    #[arg(long, env = "BUCKET", default_value = DEFAULT_LOCAL_BUCKET)]
    pub bucket: String,

    /// Extra variable for the functions, written into stack.env (repeatable;
    /// wins over MAX_RUN_SECONDS, BATCH_SIZE and PUSHBATCH_FN_* taken from
    /// the environment)
    #[arg(long = "fn-env", value_name = "KEY=VALUE", value_parser = parse_assignment)]
    pub fn_env: Vec<(String, String)>,

    /// Do not rebuild functions when their code changes
    #[arg(long)]
    pub ignore_changes: bool,

    /// Run only these parts (comma separated: sandbox, moto, dynalite, ses,
    /// watch, event-plane)
    #[arg(long, value_delimiter = ',', value_parser = parse_part)]
    pub only: Vec<Part>,

    /// Extra argument for push-sandbox (repeatable), e.g. --sandbox-arg=--latency-ms=5
    #[arg(long = "sandbox-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub sandbox_args: Vec<String>,

    /// Extra argument for event-plane (repeatable), e.g. --plane-arg=--retries=0
    #[arg(long = "plane-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub plane_args: Vec<String>,

    /// Extra argument for `cargo lambda watch` (repeatable), e.g.
    /// --watch-arg=--concurrency=5 to run a sharded job's chains at once
    #[arg(long = "watch-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub watch_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Port base when the state directory has no stack.json
    #[arg(long, env = "PUSHBATCH_PORT_BASE", default_value_t = Ports::DEFAULT_BASE)]
    pub port_base: u16,

    /// Print JSON instead of a table
    #[arg(long)]
    pub json: bool,
}

fn parse_part(name: &str) -> Result<Part, String> {
    Part::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = Part::ALL.iter().map(|p| p.name()).collect();
        format!("unknown part {name:?} (expected one of {})", names.join(", "))
    })
}

pub async fn run(command: LocalCommand, ctx: &Context) -> Result<ExitCode, LocalError> {
    match command {
        LocalCommand::Up(args) => run_up(args, ctx).await,
        LocalCommand::Down => run_down(ctx),
        LocalCommand::Status(args) => run_status(args, ctx).await,
    }
}

async fn run_up(args: UpArgs, ctx: &Context) -> Result<ExitCode, LocalError> {
    let mut config = StackConfig::new(ctx.root()?, ctx.state_dir()?);
    config.port_base = args.port_base;
    config.bucket = args.bucket;
    config.ignore_changes = args.ignore_changes;
    config.progress = true;
    if !args.only.is_empty() {
        config.parts = Part::ALL.into_iter().filter(|p| args.only.contains(p)).collect();
    }
    let flags: EnvMap = args.fn_env.into_iter().collect();
    config.fn_env = fn_env_from(&EnvMap::from_process()).overlaid_with(&flags);
    let mut extra = BTreeMap::new();
    extra.insert(Part::Sandbox, args.sandbox_args);
    extra.insert(Part::EventPlane, args.plane_args);
    extra.insert(Part::Watch, args.watch_args);
    config.extra_args = extra;

    let report = up(&config).await?;
    let started = |parts: &[Part]| -> String {
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
        }
    };
    print!("{}", report.status.render_table());
    println!();
    println!("started: {}", started(&report.started));
    println!("already running: {}", started(&report.already_running));
    for resource in &report.provisioned {
        let verb = if resource.created { "created" } else { "exists" };
        println!("{} {}: {verb}", resource.kind, resource.name);
    }
    println!("env file: {}", super::StateDir::new(&config.state_dir).stack_env().display());
    println!("logs: {}", super::StateDir::new(&config.state_dir).logs().display());
    Ok(exit_for(report.status.all_healthy()))
}

fn run_down(ctx: &Context) -> Result<ExitCode, LocalError> {
    let outcomes = down(ctx.state_dir()?)?;
    let rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|(part, outcome)| {
            let what = match outcome {
                StopOutcome::NotRunning => "not running",
                StopOutcome::StalePid => "stale pid file removed",
                StopOutcome::Terminated => "stopped",
                StopOutcome::Killed => "killed after timeout",
            };
            vec![part.name().to_string(), what.to_string()]
        })
        .collect();
    print!("{}", table::render(&["part", "result"], &rows));
    Ok(ExitCode::SUCCESS)
}

async fn run_status(args: StatusArgs, ctx: &Context) -> Result<ExitCode, LocalError> {
    let state_dir = ctx.state_dir()?;
    let (ports, parts) = match StackRecord::read(state_dir) {
        Some(record) => (Ports::new(record.port_base), record.parts()),
        None => (Ports::new(args.port_base), Part::ALL.to_vec()),
    };
    let report = status(state_dir, ports, &parts).await;
    if args.json {
        let json = serde_json::to_string_pretty(&report)
            .expect("StatusReport serialises: only strings, integers, booleans and options of them");
        println!("{json}");
    } else {
        print!("{}", report.render_table());
    }
    Ok(exit_for(report.all_healthy()))
}

fn exit_for(healthy: bool) -> ExitCode {
    if healthy { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
