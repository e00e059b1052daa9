//! Provider faults (issue #8 item 3): the sandbox answers 2% 500, 3% 503,
//! 2% 429 with Retry-After, sends GOAWAY every 1000 streams and adds 200 ms
//! spikes. Every device must end delivered, pruned or in failed.jsonl; then
//! re-driving failed.jsonl with the faults off delivers the rest, and every
//! live device has been sent exactly once over both jobs.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{Bench, Population, Row, Tally};
use crate::StackOptions;

pub const BATCH_SIZE: u64 = 200;

#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub users: u64,
}

pub async fn run(size: Size, seed: u64) -> anyhow::Result<Row> {
    let population = Population::new(size.users, seed);
    let mut opts = StackOptions::default()
        .fn_env("MAX_RUN_SECONDS", 4)
        .fn_env("BATCH_SIZE", BATCH_SIZE)
        .fn_env("LEASE_SECONDS", 60)
        // Two attempts, so that some devices fail for good and failed.jsonl
        // has something to re-drive.
        .fn_env("PUSH_MAX_ATTEMPTS", 2)
        .fn_env("PUSH_RETRY_BASE_MS", 20)
        // One connection per provider, so a few thousand sends cross the
        // GOAWAY threshold of 1000 streams.
        .fn_env("APNS_CONNECTIONS", 1)
        .fn_env("FCM_CONNECTIONS", 1);
    opts.sandbox_args = [
        "--track-tokens",
        "--rate-500=0.02",
        "--rate-503=0.03",
        "--rate-429=0.02",
        "--retry-after-secs=1",
        "--goaway-after=1000",
        "--spike-ms=200",
        "--spike-rate=0.02",
    ]
    .map(String::from)
    .into_iter()
    .chain([format!("--seed={seed}")])
    .collect();
    let bench = Bench::start(opts, population).await?;
    bench.explain(scenario(&bench, size.users, seed)).await
}

async fn scenario(bench: &Bench, users: u64, seed: u64) -> anyhow::Result<Row> {
    let key = "batches/faults.jsonl";
    let etag = bench.put(key, bench.population.jsonl("faults", 0..users)).await?;
    let job = bench.job_of(key, &etag).await?.job_id;
    let (_, summary) = bench.finished(&job).await?;
    anyhow::ensure!(summary.status == "done", "{summary:?}");
    let c = &summary.counters;
    c.check_identities().map_err(|b| anyhow::anyhow!("identities: {b:?}"))?;
    anyhow::ensure!(c.entries == users, "{} entries", c.entries);

    let expected = bench.population.expect(0..users);
    let failed = bench.failed(&summary).await?;
    let deliveries = bench.deliveries().await?;
    let stats = bench.stack.sandbox_stats().await?;
    let tally = Tally::new(&expected, &deliveries, &failed, BATCH_SIZE);
    println!("provider faults (seed {seed}), first job: {}", tally.describe());
    println!("sandbox: apns {} fcm {} goaways {}", stats["apns"], stats["fcm"], stats["goaways"]);

    // Every device: delivered once, pruned, or in failed.jsonl, never two.
    anyhow::ensure!(tally.lost.is_empty(), "lost: {}", tally.describe());
    anyhow::ensure!(tally.duplicated.is_empty(), "sent twice: {}", tally.describe());
    anyhow::ensure!(tally.stray.is_empty(), "sent where it should not: {}", tally.describe());
    let delivered_and_failed: Vec<&String> = failed.iter().filter(|t| deliveries.contains_key(*t)).collect();
    anyhow::ensure!(delivered_and_failed.is_empty(), "delivered and also in failed.jsonl: {delivered_and_failed:?}");
    anyhow::ensure!(
        c.total_devices().failed == failed.len() as u64,
        "summary says {} failed, failed.jsonl lists {}",
        c.total_devices().failed,
        failed.len()
    );
    let sandbox_total: u64 = deliveries.values().sum();
    anyhow::ensure!(sandbox_total == c.total_devices().delivered, "sandbox {sandbox_total} vs summary {c:?}");
    let table = bench.table_tokens().await?;
    let dead_unsettled: Vec<&String> =
        expected.dead.keys().filter(|t| table.contains(*t) && !failed.contains(*t)).collect();
    anyhow::ensure!(dead_unsettled.is_empty(), "dead tokens neither pruned nor failed: {dead_unsettled:?}");
    let injected = injected_total(&stats);
    anyhow::ensure!(injected > 0, "no faults were injected: {stats}");
    anyhow::ensure!(stats["goaways"].as_u64() > Some(0), "no GOAWAY was sent: {stats}");
    anyhow::ensure!(!failed.is_empty(), "nothing failed for good: the re-drive is not exercised");

    // Re-drive with the faults off: exactly the failures are sent.
    bench
        .stack
        .sandbox_config(&json!({"rate_500": 0.0, "rate_503": 0.0, "rate_429": 0.0, "spike_rate": 0.0,
                                "goaway_after": 0}))
        .await?;
    let report = summary.failed_report.clone().unwrap_or_default();
    let redrive_key = "batches/redrive-faults.jsonl";
    let redrive_etag = bench.copy(&report, redrive_key).await?;
    let redrive = bench.job_of(redrive_key, &redrive_etag).await?.job_id;
    let (_, again) = bench.finished(&redrive).await?;
    anyhow::ensure!(again.status == "done", "{again:?}");
    let d = again.counters.total_devices();
    again.counters.check_identities().map_err(|b| anyhow::anyhow!("re-drive identities: {b:?}"))?;
    anyhow::ensure!(d.failed == 0, "the re-drive failed {} devices", d.failed);
    anyhow::ensure!(d.attempted == failed.len() as u64, "re-drive attempted {} of {}", d.attempted, failed.len());

    let deliveries = bench.deliveries().await?;
    let tally = Tally::new(&expected, &deliveries, &BTreeSet::new(), BATCH_SIZE);
    println!("provider faults (seed {seed}), after the re-drive: {}", tally.describe());
    anyhow::ensure!(tally.lost.is_empty(), "lost after the re-drive: {}", tally.describe());
    anyhow::ensure!(tally.duplicated.is_empty(), "sent twice over both jobs: {}", tally.describe());
    anyhow::ensure!(tally.stray.is_empty(), "sent where it should not: {}", tally.describe());
    let table = bench.table_tokens().await?;
    anyhow::ensure!(expected.dead.keys().all(|t| !table.contains(t)), "a dead token survived the re-drive");
    anyhow::ensure!(expected.live.keys().all(|t| table.contains(t)), "a live token was removed");

    Ok(Row {
        scenario: "provider faults: 2% 500 + 3% 503, 2% 429 (Retry-After 1 s), GOAWAY every 1000 streams, \
                   200 ms spikes on 2%; then re-drive of failed.jsonl with faults off"
            .into(),
        runs: 1,
        result: "pass".into(),
        lost: 0,
        duplicated: 0,
        largest_window_users: 0,
        notes: format!(
            "{users} users, {} live devices; {injected} faults injected, {} GOAWAYs, {} retries; \
             {} devices in failed.jsonl, all delivered by the re-drive",
            expected.live.len(),
            stats["goaways"],
            c.total_devices().retries,
            failed.len()
        ),
    })
}

fn injected_total(stats: &Value) -> u64 {
    ["apns", "fcm"]
        .iter()
        .filter_map(|p| stats[p]["injected"].as_object())
        .flat_map(|m| m.values())
        .filter_map(Value::as_u64)
        .sum()
}
