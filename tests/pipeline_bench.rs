//! Benchmark, not a test (ignored; `bench/pipeline` runs it): one
//! send-batch chain on the local stack with AWS's and the providers' round
//! trips put back (push-sandbox latency, 8 ms on every DynamoDB and S3 call
//! through fault proxies), the serial loop (`PIPELINE_BATCHES=1`) against
//! the pipeline (the default), each against its own no-latency rate, its CPU
//! limit here; and the pipeline again writing delivery receipts
//! (`DELIVERY_RECEIPTS`), with each job's S3 calls and the receipts' bytes.
//! The contenders run interleaved, round after round, so that
//! the machine's other load hits them alike. Nothing is asserted about
//! speed; every job must end done with every user counted. Writes
//! `bench/results/pipeline.json`.
//!
//! `PIPELINE_BATCHES` (the pipelined links', send-batch's default),
//! `USERS` (inline-device users a job, 100000), `LOOKUP_USERS` (users seeded
//! into dynalite and looked up, 50000), `ROUNDS` (2), `RTT_MS` (the
//! providers', 50), `AWS_MS` (DynamoDB and S3, 8).

use std::time::{Duration, Instant};

use pushbatch::local::{StateDir, process};
use pushbatch_tests::fault_proxy::{FaultProxy, Service};
use pushbatch_tests::inline::Inline;
use pushbatch_tests::reliability::crash::function_pids;
use pushbatch_tests::reliability::{Bench, Population};
use pushbatch_tests::{Part, StackOptions, target_dir};
use serde_json::{Value, json};

fn var(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One stack, send-batch at one `PIPELINE_BATCHES`, behind two proxies.
struct Link {
    name: &'static str,
    bench: Bench,
    dynamo: FaultProxy,
    s3: FaultProxy,
}

async fn link(name: &'static str, pipeline_batches: u64, receipts: bool, lookup_users: u64) -> anyhow::Result<Link> {
    let dynamo = FaultProxy::start(Service::DynamoDb, 1).await?;
    let s3 = FaultProxy::start(Service::S3, 2).await?;
    let mut opts = StackOptions::default()
        .fn_env("PIPELINE_BATCHES", pipeline_batches)
        .fn_env("DELIVERY_RECEIPTS", receipts)
        // One chain, one link: the link's own rate is what is measured.
        .fn_env("MAX_SHARDS", 1)
        .fn_env("MAX_RUN_SECONDS", 900)
        .fn_env("RUST_LOG", "warn");
    opts.watch_args = vec!["--release".into()];
    opts.bin_dir = Some(target_dir()?.join("release"));
    opts.sandbox_args = vec!["--track-tokens".into(), "--dead-fraction=0".into()];
    let bench = Bench::start(opts, Population::new(lookup_users, 7)).await?;
    dynamo.set_upstream(&format!("http://127.0.0.1:{}", bench.stack.ports().dynalite()))?;
    s3.set_upstream(bench.stack.var("AWS_ENDPOINT_URL_S3")?)?;
    let mut config = bench.stack.config().clone();
    config.fn_env.set("AWS_ENDPOINT_URL_DYNAMODB", dynamo.url());
    config.fn_env.set("AWS_ENDPOINT_URL_S3", s3.url());
    pushbatch::local::up(&config).await?;
    Ok(Link { name, bench, dynamo, s3 })
}

/// CPU seconds (user + system) of a process so far; 0 once it is gone.
fn cpu_seconds(pid: i32) -> f64 {
    pushbatch::cpu::cpu_seconds(&pid.to_string()).unwrap_or(0.0)
}

fn sandbox_pid(link: &Link) -> Option<i32> {
    let state = StateDir::new(link.bench.stack.state_dir());
    process::read_pid(&state.pid_file(Part::Sandbox)).map(|p| p as i32)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sends one file through `link` and measures it.
async fn run(link: &Link, contender: &str, key: &str, body: Vec<u8>, latency: bool) -> anyhow::Result<Value> {
    let (rtt, aws) = (var("RTT_MS", 50), var("AWS_MS", 8));
    link.bench.stack.sandbox_config(&json!({"latency_ms": if latency { rtt } else { 0 }})).await?;
    let proxy = Duration::from_millis(if latency { aws } else { 0 });
    link.dynamo.set_latency(proxy);
    link.s3.set_latency(proxy);
    let load = load_average();
    let pids = function_pids(&link.bench.stack)?;
    let sandbox = sandbox_pid(link);
    let cpu = |pids: &[i32]| pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>();
    let (fn_before, sbx_before) = (cpu(&pids), sandbox.map_or(0.0, cpu_seconds));
    let started = Instant::now();
    let etag = link.bench.put(key, body).await?;
    let job = link.bench.job_of(key, &etag).await?.job_id;
    let (record, summary) = link.bench.finished_within(&job, Duration::from_secs(1800)).await?;
    let wall = started.elapsed().as_secs_f64();
    // A container started by this job (the first) is counted from zero.
    let pids_after = function_pids(&link.bench.stack)?;
    let fn_cpu = cpu(&pids_after) - if pids_after == pids { fn_before } else { 0.0 };
    let sbx_cpu = sandbox.map_or(0.0, cpu_seconds) - sbx_before;
    anyhow::ensure!(summary.status == "done", "{contender}: {summary:?}");
    summary.counters.check_identities().map_err(|b| anyhow::anyhow!("{contender}: identities {b:?}"))?;
    let entries = summary.counters.entries;
    let busy = record.busy_ms.max(1) as f64 / 1000.0;
    let usage = summary.cost.as_ref().map(|c| json!({"usage": c.usage, "total_usd": c.cost.total_usd}));
    let receipts_bytes = match &summary.receipts_report {
        Some(key) => link.bench.read(key).await?.len(),
        None => 0,
    };
    let row = json!({
        "contender": contender, "link": link.name, "latency": latency, "entries": entries,
        "delivered": summary.counters.total_devices().delivered,
        "invocations": summary.invocations, "busy_s": busy, "job_wall_s": wall,
        "users_per_s": entries as f64 / busy,
        "send_batch_cpu_s": fn_cpu, "send_batch_cpu_us_per_user": fn_cpu * 1e6 / entries.max(1) as f64,
        "send_batch_core_share": fn_cpu / busy,
        "sandbox_cpu_s": sbx_cpu, "load_before": load,
        "cost": usage, "receipts_bytes": receipts_bytes,
    });
    println!("PIPELINE {row}");
    Ok(row)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    if xs.is_empty() { 0.0 } else { xs[xs.len() / 2] }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bench/pipeline runs it and writes bench/results/pipeline.json"]
async fn round_trip_bound_link_serial_against_pipelined() -> anyhow::Result<()> {
    let (users, lookup_users, rounds) = (var("USERS", 100_000), var("LOOKUP_USERS", 50_000), var("ROUNDS", 2));
    let serial = link("serial", 1, false, lookup_users).await?;
    let window = var("PIPELINE_BATCHES", pushbatch_tests::reliability::PIPELINE_BATCHES);
    let pipelined = link("pipelined", window, false, lookup_users).await?;
    // The pipeline again, writing delivery receipts (DELIVERY_RECEIPTS).
    let receipts = link("receipts", window, true, lookup_users).await?;
    let inline = Inline::new("pl");
    // Warm both containers (connections, the release build) before the clock.
    for l in [&serial, &pipelined, &receipts] {
        run(l, "warm-up", "batches/warm.jsonl", inline.jsonl(json!({}), 0..2000), false).await?;
    }
    let mut rows = Vec::new();
    for round in 0..rounds {
        let contenders: [(&Link, &str, bool, bool); 8] = [
            (&serial, "serial, 50 ms", true, false),
            (&pipelined, "pipelined, 50 ms", true, false),
            (&receipts, "receipts, 50 ms", true, false),
            (&serial, "serial, no latency", false, false),
            (&pipelined, "pipelined, no latency", false, false),
            (&receipts, "receipts, no latency", false, false),
            (&pipelined, "pipelined, 50 ms, looked up", true, true),
            (&serial, "serial, 50 ms, looked up", true, true),
        ];
        for (i, (l, name, latency, lookup)) in contenders.into_iter().enumerate() {
            let key = format!("batches/r{round}-{i}.jsonl");
            let body = if lookup {
                l.bench.population.jsonl(&format!("r{round}-{i}"), 0..lookup_users)
            } else {
                inline.jsonl(json!({}), 0..users)
            };
            let mut row = run(l, name, &key, body, latency).await?;
            row["round"] = json!(round);
            rows.push(row);
        }
    }
    let rate = |name: &str| {
        median(rows.iter().filter(|r| r["contender"] == name).filter_map(|r| r["users_per_s"].as_f64()).collect())
    };
    let ratios = json!({
        "pipelined_50ms_over_its_no_latency": rate("pipelined, 50 ms") / rate("pipelined, no latency"),
        "serial_50ms_over_its_no_latency": rate("serial, 50 ms") / rate("serial, no latency"),
        "pipelined_over_serial_at_50ms": rate("pipelined, 50 ms") / rate("serial, 50 ms"),
        "pipelined_no_latency_over_serial_no_latency": rate("pipelined, no latency") / rate("serial, no latency"),
        "looked_up_pipelined_over_serial_at_50ms": rate("pipelined, 50 ms, looked up") / rate("serial, 50 ms, looked up"),
        "receipts_over_pipelined_at_50ms": rate("receipts, 50 ms") / rate("pipelined, 50 ms"),
        "receipts_over_pipelined_no_latency": rate("receipts, no latency") / rate("pipelined, no latency"),
    });
    let medians: serde_json::Map<String, Value> =
        rows.iter().filter_map(|r| r["contender"].as_str()).map(|c| (c.to_owned(), json!(rate(c)))).collect();
    let out = json!({
        "bench": "pipeline", "pipeline_batches": window, "users": users, "lookup_users": lookup_users, "rounds": rounds,
        "rtt_ms": var("RTT_MS", 50), "aws_ms": var("AWS_MS", 8),
        "date": chrono::Utc::now().to_rfc3339(), "load_after": load_average(),
        "median_users_per_s": medians, "ratios": ratios, "runs": rows,
    });
    println!("PIPELINE RESULT {out}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/results/pipeline.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&out)?)?;
    Ok(())
}
