//! `pushbatch demo`: the main job on the local stack, end to end. Brings the
//! stack up, seeds users, drops a batch file with a short MAX_RUN_SECONDS so
//! the chain has several links, follows it, and checks the summary against
//! what the push sandbox saw.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::{Value, json};
use shared::report::Summary;
use shared::schema::DEVICES;

use crate::context::Context;
use crate::cpu::CpuSampler;
use crate::env_file::EnvMap;
use crate::jobs::{Jobs, print_summary};
use crate::local::{StackConfig, up};
use crate::rss::PeakSampler;
use crate::seed::{SeedOptions, user_id, write_users};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Users to seed and send to
    #[arg(long, default_value_t = 100_000)]
    pub users: u64,
    /// Each link of the chain runs at most this long
    #[arg(long, default_value_t = 4.0)]
    pub max_run_seconds: f64,
    /// Share of devices whose tokens the sandbox treats as dead
    #[arg(long, default_value_t = 0.05)]
    pub dead_fraction: f64,
    /// Port base of the local stack
    #[arg(long, default_value_t = 9100)]
    pub port_base: u16,
    /// Build the functions optimized, as they are deployed (`cargo lambda
    /// watch --release`); for measurements
    #[arg(long)]
    pub release: bool,
    /// Write the measurements (wall time, invocations, peak RSS of
    /// send-batch, the cross-check) as JSON to this file
    #[arg(long)]
    pub report: Option<std::path::PathBuf>,
    /// Cut the file into this many shards, each its own chain, run at once
    /// (watch runs one more instance, for the first link); 1 sends it as
    /// one chain
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub shards: u32,
}

/// The batch file: every seeded user, a third with a name to fill in, and a
/// few broken entries so the report shows how they are counted.
fn batch_file(users: u64, prefix: &str) -> String {
    let header = json!({
        "campaign": "demo",
        "category": "product-news",
        "notification": {
            "title": "What's new",
            "body": "Hi {{name}}, we shipped something you asked for",
            "data": {"deeplink": "app://news/1"},
            "sound": "default",
            "collapse_key": "demo",
            "ttl_seconds": 3600
        }
    });
    let mut out = header.to_string();
    out.push('\n');
    for i in 0..users {
        let id = user_id(i, prefix);
        let entry =
            if i % 3 == 0 { json!({"user_id": id, "vars": {"name": format!("user {i}")}}) } else { Value::String(id) };
        out.push_str(&entry.to_string());
        out.push('\n');
    }
    for broken in [
        json!({"vars": {"name": "no id"}}),
        json!(42),
        json!({"user_id": "x", "devices": [{"platform": "windows", "token": "t"}]}),
    ] {
        out.push_str(&broken.to_string());
        out.push('\n');
    }
    out
}

async fn sandbox(env: &EnvMap, path: &str, post: bool) -> anyhow::Result<Value> {
    let base = env.get("SANDBOX_URL").context("SANDBOX_URL is not in the stack's env")?;
    let client = reqwest::Client::new();
    let url = format!("{base}{path}");
    let request = if post { client.post(&url) } else { client.get(&url) };
    Ok(request.send().await?.error_for_status()?.json().await.unwrap_or(Value::Null))
}

/// The summary's delivered and pruned counts must equal what the sandbox
/// answered 200 and Unregistered to.
fn cross_check(summary: &Summary, stats: &Value) -> Vec<String> {
    let c = &summary.counters;
    let total = c.total_devices();
    let count = |p: &str, k: &str| stats[p][k].as_u64().unwrap_or(0);
    let rejected = |p: &str, reason: &str| stats[p]["rejected"][reason].as_u64().unwrap_or(0);
    let delivered = count("apns", "delivered") + count("fcm", "delivered");
    let dead = rejected("apns", "Unregistered") + rejected("apns", "BadDeviceToken") + rejected("fcm", "UNREGISTERED");
    let mut problems = Vec::new();
    if let Err(broken) = c.check_identities() {
        problems.extend(broken);
    }
    if delivered != total.delivered {
        problems.push(format!("the sandbox delivered {delivered}, the summary says {}", total.delivered));
    }
    if dead != total.pruned {
        problems.push(format!("the sandbox rejected {dead} dead tokens, the summary pruned {}", total.pruned));
    }
    problems
}

pub async fn run(args: DemoArgs, ctx: &Context) -> anyhow::Result<ExitCode> {
    let root = ctx.root()?.to_path_buf();
    let state_dir = ctx.state_dir()?.to_path_buf();
    let mut config = StackConfig::new(&root, &state_dir);
    config.port_base = args.port_base;
    config.fn_env.set("MAX_RUN_SECONDS", args.max_run_seconds.to_string());
    config.cargo_target_dir = crate::local::default_target_dir();
    // A file saved mid-demo must not restart the functions under a running
    // job: watch would kill the links in flight.
    config.ignore_changes = true;
    // Shards regardless of size or rate: exactly `--shards` of them.
    for (key, value) in [
        ("MAX_SHARDS", args.shards.to_string()),
        ("SHARD_MIN_MB", "0".into()),
        ("SHARD_TARGET_SECONDS", "1".into()),
        ("SHARD_CHAIN_USERS_PER_SECOND", "1".into()),
    ] {
        config.fn_env.set(key, value);
    }
    let mut watch_args = vec![format!("--concurrency={}", args.shards + 1)];
    if args.release {
        watch_args.push("--release".into());
    }
    config.extra_args.insert(crate::local::Part::Watch, watch_args);
    println!("1/4 starting the local stack in {}", state_dir.display());
    let report = up(&config).await?;
    if !report.status.all_healthy() {
        bail!("the local stack is not healthy: run `pushbatch local status`");
    }
    let env = report.env.overlaid_with(&EnvMap::from_process());

    println!("2/4 seeding {} users ({}% of devices dead)", args.users, args.dead_fraction * 100.0);
    let opts = SeedOptions { users: args.users, dead_fraction: args.dead_fraction, ..SeedOptions::default() };
    let sdk = crate::aws_clients::sdk_config(&env).await;
    let dynamo = crate::aws_clients::dynamodb(&sdk, &env);
    let bar = crate::progress::counter(true, opts.users, "users");
    let seeding = Instant::now();
    let seeded = write_users(&dynamo, env.get_or(DEVICES.env, DEVICES.default_name), &opts, 16, &bar).await?;
    let seed_seconds = seeding.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let dir = state_dir.join("demo");
    std::fs::create_dir_all(&dir)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S");
    let file = dir.join(format!("demo-{stamp}.jsonl"));
    std::fs::File::create(&file)?.write_all(batch_file(args.users, &opts.prefix).as_bytes())?;
    sandbox(&env, "/stats/reset", true).await?;

    let chains = if args.shards > 1 { format!("{} shards, ", args.shards) } else { String::new() };
    println!("3/4 sending {} ({chains}each link runs at most {}s)", file.display(), args.max_run_seconds);
    let jobs = Jobs::from_env(&env).await;
    let rss = PeakSampler::start("send-batch", Duration::from_millis(250));
    let cpu = CpuSampler::start(crate::cpu::STACK, Duration::from_millis(250));
    let sending = Instant::now();
    let (key, etag) = jobs.upload(&file, None).await?;
    let size = std::fs::metadata(&file)?.len();
    let summary = jobs.follow(&key, &etag, size, Duration::from_secs(3 * 3600), true).await?;
    let wall_seconds = sending.elapsed().as_secs_f64();
    let peak_rss_kb = rss.max_kb();
    let cpu_seconds = cpu.totals();
    print_summary(&summary);

    println!("4/4 checking against the push sandbox");
    let stats = sandbox(&env, "/stats", false).await?;
    println!(
        "  seeded        {} users, {} iOS + {} Android devices ({} + {} dead)",
        seeded.users, seeded.ios_devices, seeded.android_devices, seeded.dead_ios, seeded.dead_android
    );
    println!(
        "  sandbox       APNs {} delivered, FCM {} delivered, rejected {} / {}",
        stats["apns"]["delivered"], stats["fcm"]["delivered"], stats["apns"]["rejected"], stats["fcm"]["rejected"]
    );
    let problems = cross_check(&summary, &stats);
    println!(
        "  measured      {wall_seconds:.0}s from upload to summary, {} invocations, send-batch peak RSS {:.1} MB",
        summary.invocations,
        peak_rss_kb as f64 / 1024.0
    );
    if let Some(path) = &args.report {
        let report = json!({
            "users": args.users,
            "file_bytes": size,
            "max_run_seconds": args.max_run_seconds,
            "shards": args.shards,
            "release_build": args.release,
            "seed_seconds": seed_seconds,
            "wall_seconds": wall_seconds,
            "invocations": summary.invocations,
            "busy_ms": summary.busy_ms,
            "sends_per_second": summary.sends_per_second,
            "peak_rss_kb": peak_rss_kb,
            // CPU seconds per process of the stack from upload to summary.
            "cpu_seconds": cpu_seconds,
            "status": summary.status,
            "cross_check_problems": problems,
            "counters": summary.counters,
            "sandbox": stats,
            "measured_at": chrono::Utc::now().to_rfc3339(),
        });
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if summary.status != "done" || !problems.is_empty() {
        for p in &problems {
            println!("  MISMATCH      {p}");
        }
        return Ok(ExitCode::FAILURE);
    }
    println!("  ok            the summary matches the sandbox, and every identity holds");
    println!("\nThe stack is still up: `pushbatch local status`, `pushbatch local down`.");
    Ok(ExitCode::SUCCESS)
}
