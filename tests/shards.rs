//! Fan-out on the local stack (issue #9): sharded jobs run as several
//! chains at once under `cargo lambda watch --concurrency`, share one FCM
//! quota, and survive a crash of their chains.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pushbatch_tests::reliability::crash::{kill_function, restart_runtime};
use pushbatch_tests::reliability::{Bench, PIPELINE_BATCHES, Population, Tally};
use pushbatch_tests::{StackOptions, eventually};
use shared::jobs::JobStatus;
use shared::jobs::shard_id;
use shared::quota::Bucket;

const USERS: u64 = 3000;
const BATCH_SIZE: u64 = 100;
const SHARDS: u32 = 4;
/// watch instances: every shard at once, and one for a new job's first link.
const CONCURRENCY: u32 = SHARDS + 1;
const SEED: u64 = 9;

/// A stack whose send-batch cuts every JSONL file into `shards` shards.
fn options(shards: u32) -> StackOptions {
    let mut opts = StackOptions::default()
        .fn_env("MAX_RUN_SECONDS", 2)
        .fn_env("BATCH_SIZE", BATCH_SIZE)
        .fn_env("MAX_SHARDS", shards)
        .fn_env("SHARD_MIN_MB", 0)
        .fn_env("SHARD_TARGET_SECONDS", 1)
        .fn_env("SHARD_CHAIN_USERS_PER_SECOND", 1);
    opts.sandbox_args = vec!["--track-tokens".into(), format!("--seed={SEED}")];
    opts.watch_args = vec![format!("--concurrency={CONCURRENCY}")];
    opts
}

/// Sends the population's file; the per-token deliveries and the job's
/// shard count.
async fn send(bench: &Bench, key: &str) -> anyhow::Result<(BTreeMap<String, u64>, u32, shared::report::Summary)> {
    let etag = bench.put(key, bench.population.jsonl("fan-out", 0..USERS)).await?;
    let job = bench.job_of(key, &etag).await?;
    let (record, summary) = bench.finished(&job.job_id).await?;
    let shards = record.shards.as_ref().map_or(1, |s| s.count());
    Ok((bench.deliveries().await?, shards, summary))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sharded_job_delivers_the_same_devices_as_one_chain_each_exactly_once() -> anyhow::Result<()> {
    let population = Population::new(USERS, SEED);
    let expected = population.expect(0..USERS);

    let single = Bench::start(options(1), population.clone()).await?;
    let (one_chain, shards, summary) = single.explain(send(&single, "batches/same.jsonl")).await?;
    anyhow::ensure!(shards == 1 && summary.status == "done", "{summary:?}");
    drop(single);

    let sharded = Bench::start(options(SHARDS), population).await?;
    let (fanned, shards, summary) = sharded.explain(send(&sharded, "batches/same.jsonl")).await?;
    anyhow::ensure!(shards == SHARDS, "the job ran as {shards} shards");
    anyhow::ensure!(summary.status == "done", "{summary:?}");
    summary.counters.check_identities().map_err(|b| anyhow::anyhow!("identities: {b:?}"))?;
    anyhow::ensure!(summary.counters.entries == USERS, "{} entries", summary.counters.entries);

    let tally = Tally::new(&expected, &fanned, &Default::default(), BATCH_SIZE);
    anyhow::ensure!(tally.lost.is_empty() && tally.stray.is_empty(), "{}", tally.describe());
    anyhow::ensure!(fanned.values().all(|&n| n == 1), "a device got two pushes: {}", tally.describe());
    anyhow::ensure!(fanned == one_chain, "the sharded job delivered to other devices than one chain did");
    Ok(())
}

/// Sandbox request counts of one provider, sampled while a job runs: each
/// with the times just before the stats were asked for and just after they
/// came, between which the sandbox counted.
struct Samples {
    provider: &'static str,
    at: Vec<(f64, f64, u64)>,
}

impl Samples {
    /// Over every window between two samples (as long as it can have
    /// been): at most the bucket's burst, plus one block taken but unspent
    /// per instance, plus the rate over the window; and the limit did bind:
    /// the whole run is no faster than the rate.
    fn check(&self, per_minute: u64, block: u64) -> anyhow::Result<String> {
        let rate = per_minute as f64 / 60.0;
        let slack = Bucket::new(per_minute, block).capacity as f64 + (CONCURRENCY as u64 * block) as f64;
        for (i, &(t0, _, n0)) in self.at.iter().enumerate() {
            for &(_, t1, n1) in &self.at[i + 1..] {
                let allowed = slack + rate * (t1 - t0);
                anyhow::ensure!(
                    (n1 - n0) as f64 <= allowed,
                    "{} {} sends in {:.2}s: over the shared rate ({allowed:.0} allowed)",
                    n1 - n0,
                    self.provider,
                    t1 - t0
                );
            }
        }
        let ((_, first, n_first), (last, _, n_last)) = match (self.at.first(), self.at.last()) {
            (Some(f), Some(l)) => (*f, *l),
            _ => anyhow::bail!("no samples"),
        };
        // The shortest the run between the first and last samples can have been.
        let (span, sent) = ((last - first).max(0.0), n_last - n_first);
        anyhow::ensure!(sent > 1_000, "too few {} sends ({sent}) to measure a rate", self.provider);
        anyhow::ensure!(
            span >= (sent as f64 - slack) / rate * 0.9,
            "{sent} {} sends in {span:.1}s is faster than {rate}/s allows",
            self.provider
        );
        Ok(format!("{sent} {} sends in {span:.1}s ({:.0}/s, limit {rate:.0}/s)", self.provider, sent as f64 / span))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_together_stay_within_low_shared_provider_rates() -> anyhow::Result<()> {
    const FCM_PER_MINUTE: u64 = 4_800; // 80 a second
    // Equal, so that both bind (a batch waits for its slowest provider).
    const APNS_PER_MINUTE: u64 = 4_800;
    const BLOCK: u64 = 20;
    let opts = options(SHARDS)
        .fn_env("FCM_SHARED_RATE_PER_MINUTE", FCM_PER_MINUTE)
        .fn_env("FCM_SHARED_QUOTA_BLOCK", BLOCK)
        .fn_env("APNS_SHARED_RATE_PER_MINUTE", APNS_PER_MINUTE)
        .fn_env("APNS_SHARED_QUOTA_BLOCK", BLOCK);
    let bench = Bench::start(opts, Population::new(USERS, SEED)).await?;
    bench
        .explain(async {
            let key = "batches/quota.jsonl";
            let etag = bench.put(key, bench.population.jsonl("quota", 0..USERS)).await?;
            let job = bench.job_of(key, &etag).await?.job_id;
            let started = Instant::now();
            let mut fcm = Samples { provider: "FCM", at: Vec::new() };
            let mut apns = Samples { provider: "APNs", at: Vec::new() };
            loop {
                let asked = started.elapsed().as_secs_f64();
                let stats = bench.stack.sandbox_stats().await?;
                let answered = started.elapsed().as_secs_f64();
                fcm.at.push((asked, answered, stats["fcm"]["requests"].as_u64().unwrap_or(0)));
                apns.at.push((asked, answered, stats["apns"]["requests"].as_u64().unwrap_or(0)));
                if bench.record(&job).await?.is_some_and(|r| r.status.is_terminal()) {
                    break;
                }
                anyhow::ensure!(started.elapsed() < Duration::from_secs(240), "the job took too long");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let (record, summary) = bench.finished(&job).await?;
            anyhow::ensure!(record.shards.as_ref().map(|s| s.count()) == Some(SHARDS), "not sharded");
            anyhow::ensure!(summary.status == "done", "{summary:?}");
            println!("{}", fcm.check(FCM_PER_MINUTE, BLOCK)?);
            println!("{}", apns.check(APNS_PER_MINUTE, BLOCK)?);
            Ok(())
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_killed_mid_run_are_resumed_and_the_job_completes() -> anyhow::Result<()> {
    let population = Population::new(USERS, SEED);
    let expected = population.expect(0..USERS);
    // A short lease, so that the retries take over from the dead holders
    // quickly; every holder is dead when they arrive.
    let mut opts = options(SHARDS).fn_env("LEASE_SECONDS", 2);
    opts.plane_args = vec!["--retry-delays-ms=300,600".into()];
    let bench = Bench::start(opts, population).await?;
    bench
        .explain(async {
            let key = "batches/dying.jsonl";
            let etag = bench.put(key, bench.population.jsonl("dying", 0..USERS)).await?;
            let job = bench.job_of(key, &etag).await?.job_id;
            // Once some shard has sent a few batches, kill every running
            // chain (SIGKILL), as a crashed runtime would die.
            let midway = eventually("a shard to be midway", Duration::from_secs(120), || async {
                for i in 0..SHARDS {
                    if let Some(r) = bench.record(&shard_id(&job, i)).await?
                        && r.counters.entries >= 2 * BATCH_SIZE
                        && !r.status.is_terminal()
                    {
                        return Ok(Some(i));
                    }
                }
                Ok(None)
            })
            .await?;
            let killed = kill_function(&bench.stack)?;
            anyhow::ensure!(killed > 0, "no send-batch process to kill");
            restart_runtime(&bench).await?;
            println!("killed {killed} send-batch instances while shard {midway} was midway");

            let (record, summary) = bench.finished(&job).await?;
            anyhow::ensure!(summary.status == "done", "{summary:?}");
            let set = record.shards.as_ref().ok_or_else(|| anyhow::anyhow!("not sharded"))?;
            anyhow::ensure!(set.is_complete() && set.finished.iter().all(|f| f.status == JobStatus::Done));
            summary.counters.check_identities().map_err(|b| anyhow::anyhow!("identities: {b:?}"))?;
            anyhow::ensure!(summary.counters.entries == USERS, "{} entries", summary.counters.entries);

            let deliveries = bench.deliveries().await?;
            let failed = bench.failed(&summary).await?;
            let tally = Tally::new(&expected, &deliveries, &failed, BATCH_SIZE);
            println!("{}", tally.describe());
            anyhow::ensure!(tally.lost.is_empty() && tally.stray.is_empty(), "{}", tally.describe());
            // Each killed instance had at most its pipeline's window open
            // (PIPELINE_BATCHES batches, all after its checkpoint), which
            // may straddle one more of the tally's batch windows (shards
            // start anywhere).
            let bound = killed as u64 * (PIPELINE_BATCHES + 1);
            anyhow::ensure!(
                tally.duplicate_batches.len() as u64 <= bound,
                "duplicates in {} batches after {killed} kills (window {PIPELINE_BATCHES}): {}",
                tally.duplicate_batches.len(),
                tally.describe()
            );
            Ok(())
        })
        .await
}
