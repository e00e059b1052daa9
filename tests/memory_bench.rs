//! Benchmark, not a test (ignored; `bench/memory` runs it): send-batch's
//! peak RSS for a 10M-user JSONL file in which 1M devices fail (push-sandbox
//! refuses tokens starting `badbad` as another app's: `DeviceTokenNotForTopic`,
//! failed and written to `failed.jsonl`, never pruned). One chain, release
//! build under `cargo lambda watch`, whose process stays up between links
//! like a warm container, so its `VmHWM` is the figure Lambda's memory
//! setting must cover. Writes `bench/results/memory.json`.
//!
//! `USERS` (10000000), `FAIL_EVERY` (10: one user in ten fails),
//! `MAX_RUN` (seconds a link, 300).

use std::io::Write as _;
use std::time::{Duration, Instant};

use pushbatch::rss::PeakSampler;
use pushbatch_tests::reliability::Bench;
use pushbatch_tests::{StackOptions, target_dir};
use serde_json::json;

fn var(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One iOS device a user; every `fail_every`-th token is one the sandbox
/// refuses. Short ids and no vars: the file is about 110 bytes a user.
fn file(users: u64, fail_every: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(users as usize * 112);
    let header = json!({"campaign": "memory", "notification": {"title": "Hello", "body": "Hi"}});
    writeln!(out, "{header}").expect("writing to a Vec");
    for i in 0..users {
        let prefix = if i % fail_every == 0 { "badbad" } else { "1aaaaa" };
        writeln!(out, r#"{{"user_id":"m{i}","devices":[{{"platform":"ios","token":"{prefix}{i:058x}"}}]}}"#)
            .expect("writing to a Vec");
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bench/memory runs it and writes bench/results/memory.json"]
async fn send_batch_memory_stays_flat_with_a_million_failures() -> anyhow::Result<()> {
    let (users, fail_every, max_run) = (var("USERS", 10_000_000), var("FAIL_EVERY", 10), var("MAX_RUN", 300));
    let mut opts =
        StackOptions::default().fn_env("MAX_SHARDS", 1).fn_env("MAX_RUN_SECONDS", max_run).fn_env("RUST_LOG", "warn");
    opts.watch_args = vec!["--release".into()];
    opts.bin_dir = Some(target_dir()?.join("release"));
    opts.sandbox_args = vec!["--dead-fraction=0".into()];
    let bench = Bench::bare(opts).await?;
    let body = file(users, fail_every);
    let bytes = body.len();
    let sampler = PeakSampler::start("send-batch", Duration::from_millis(200));
    let started = Instant::now();
    let etag = bench.put("batches/memory.jsonl", body).await?;
    let job = bench.job_of("batches/memory.jsonl", &etag).await?.job_id;
    let (record, summary) = bench.finished_within(&job, Duration::from_secs(4 * 3600)).await?;
    let wall = started.elapsed().as_secs_f64();
    let peak_kb = sampler.max_kb();
    anyhow::ensure!(summary.status == "done", "{summary:?}");
    summary.counters.check_identities().map_err(|b| anyhow::anyhow!("identities {b:?}"))?;
    let failed = summary.counters.total_devices().failed;
    let failed_lines = match &summary.failed_report {
        Some(key) => bench.read(key).await?.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() - 1,
        None => 0,
    };
    let out = json!({
        "bench": "memory", "users": users, "file_bytes": bytes, "failed_devices": failed,
        "failed_jsonl_users": failed_lines, "invocations": record.invocations, "wall_s": wall,
        "busy_s": record.busy_ms as f64 / 1000.0,
        "send_batch_peak_rss_mb": peak_kb as f64 / 1024.0, "target_mb": 128,
        "date": chrono::Utc::now().to_rfc3339(),
        "load_after": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
    });
    println!("MEMORY RESULT {out}");
    anyhow::ensure!(failed_lines as u64 == failed, "failed.jsonl has {failed_lines} users, the summary {failed}");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/results/memory.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&out)?)?;
    Ok(())
}
