//! Duplicate and out-of-order inputs (issue #8 item 2): the S3 event three
//! times at once, again mid-job and after the end; the same continuation
//! several times, an older one after a newer one, one from the future and
//! one with a forged offset. Every live device must be sent exactly once.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use shared::jobs::JobRecord;
use shared::report::Summary;

use super::{Bench, Population, Row, Tally};
use crate::{StackOptions, eventually};

pub const BATCH_SIZE: u64 = 100;

/// How big a run is.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Users per job; the scenario runs two jobs on disjoint users.
    pub users_per_job: u64,
}

pub async fn run(size: Size, seed: u64) -> anyhow::Result<Row> {
    let n = size.users_per_job;
    let population = Population::new(2 * n, seed);
    let mut opts = StackOptions::default()
        // Short links, so a job of a few thousand users is a chain of
        // several and continuations can be duplicated mid-job.
        .fn_env("MAX_RUN_SECONDS", 2)
        .fn_env("BATCH_SIZE", BATCH_SIZE)
        .fn_env("LEASE_SECONDS", 10);
    // Every batch waits at least the sandbox's latency, and a link has at
    // most PIPELINE_BATCHES of them in flight: 30 batches of 400 ms, 6 at a
    // time, take 2 s at least, past what a 2 s link sends before its margin,
    // on any machine, so job B always hands off.
    opts.sandbox_args = vec!["--track-tokens".into(), "--latency-ms=400".into(), format!("--seed={seed}")];
    opts.plane_args = vec!["--retry-delays-ms=200,400".into()];
    let bench = Bench::start(opts, population).await?;
    bench.explain(scenario(&bench, n, seed)).await
}

fn continuation(record: &JobRecord, seq: u64, offset: u64) -> Value {
    json!({"continue": {"job_id": record.job_id, "bucket": record.bucket, "key": record.key,
                        "etag": record.etag, "offset": offset, "seq": seq}})
}

async fn scenario(bench: &Bench, n: u64, seed: u64) -> anyhow::Result<Row> {
    let mut notes = Vec::new();

    // A: the S3 event three times before anything ran, once mid-job, once
    // after the job ended.
    let key_a = "batches/dup-s3.jsonl";
    bench.pause_plane().await?;
    let etag_a = bench.put(key_a, bench.population.jsonl("dup-s3", 0..n)).await?;
    eventually("the upload's S3 event to be queued", Duration::from_secs(30), || async {
        let stats = bench.stack.plane_stats().await?;
        Ok((stats["s3_events"].as_u64() >= Some(1)).then_some(()))
    })
    .await?;
    let mut redelivered = 0;
    for _ in 0..2 {
        redelivered += bench.redeliver_s3(key_a).await?;
    }
    bench.resume_plane().await?;
    let job_a = bench.job_of(key_a, &etag_a).await?.job_id;
    let mid = eventually("job A to pass a checkpoint", Duration::from_secs(120), || async {
        Ok(bench.record(&job_a).await?.filter(|r| r.counters.entries > 0 || r.status.is_terminal()))
    })
    .await?;
    if mid.status.is_terminal() {
        notes.push("job A ended before the mid-job redelivery".to_string());
    }
    redelivered += bench.redeliver_s3(key_a).await?;
    let (_, summary_a) = bench.finished(&job_a).await?;
    redelivered += bench.redeliver_s3(key_a).await?;
    anyhow::ensure!(redelivered == 4, "the plane redelivered {redelivered} events, not 4");

    // B: duplicate, older, newer and forged continuations, queued behind the
    // real one while the plane is paused at a handoff.
    let key_b = "batches/dup-continue.jsonl";
    let etag_b = bench.put(key_b, bench.population.jsonl("dup-continue", n..2 * n)).await?;
    let job_b = bench.job_of(key_b, &etag_b).await?.job_id;
    let first = eventually("job B to pass a checkpoint", Duration::from_secs(120), || async {
        Ok(bench.record(&job_b).await?.filter(|r| r.counters.entries > 0 || r.status.is_terminal()))
    })
    .await?;
    bench.pause_plane().await?;
    let handed = eventually("job B to hand off", Duration::from_secs(60), || async {
        Ok(bench.record(&job_b).await?.filter(|r| (r.seq >= 1 && r.owner.is_none()) || r.status.is_terminal()))
    })
    .await?;
    anyhow::ensure!(!handed.status.is_terminal(), "job B ended within one link: the scenario needs a longer job");
    let k = handed.seq;
    let users_start = first.layout.as_ref().map_or(0, |l| l.users_start);
    let queued = [
        continuation(&handed, k, handed.offset),
        continuation(&handed, k, handed.offset),
        continuation(&handed, k - 1, users_start),
        continuation(&handed, 0, users_start),
        continuation(&handed, k, 0),
        continuation(&handed, k + 3, handed.offset),
    ];
    for payload in &queued {
        bench.invoke_event(payload).await?;
    }
    bench.resume_plane().await?;
    let (record_b, summary_b) = bench.finished(&job_b).await?;
    bench.invoke_event(&continuation(&handed, k, handed.offset)).await?;
    bench.invoke_event(&continuation(&record_b, record_b.seq, record_b.offset)).await?;
    let plane = bench.plane_idle(Duration::from_secs(120)).await?;

    // Nothing sent twice, nothing missed, counts add up.
    let expected = bench.population.expect(0..2 * n);
    let deliveries = bench.deliveries().await?;
    let tally = Tally::new(&expected, &deliveries, &BTreeSet::new(), BATCH_SIZE);
    println!("duplicates (seed {seed}): {}", tally.describe());
    for (name, summary) in [("A", &summary_a), ("B", &summary_b)] {
        check_summary(name, summary, n)?;
    }
    let summed = summary_a.counters.total_devices().delivered + summary_b.counters.total_devices().delivered;
    let sandbox_total: u64 = deliveries.values().sum();
    anyhow::ensure!(tally.lost.is_empty(), "lost: {}", tally.describe());
    anyhow::ensure!(tally.duplicated.is_empty(), "sent twice: {}", tally.describe());
    anyhow::ensure!(tally.stray.is_empty(), "sent where it should not: {}", tally.describe());
    anyhow::ensure!(sandbox_total == summed, "sandbox counted {sandbox_total}, the summaries {summed}");
    let table = bench.table_tokens().await?;
    anyhow::ensure!(expected.dead.keys().all(|t| !table.contains(t)), "a dead token was not pruned");
    anyhow::ensure!(expected.live.keys().all(|t| table.contains(t)), "a live token was removed");
    anyhow::ensure!(plane["dead_lettered"].as_u64() == Some(0), "the plane dead-lettered something: {plane}");

    let invocations = plane["by_function"]["send-batch"]["invocations"].as_u64().unwrap_or(0);
    let links = summary_a.invocations + summary_b.invocations;
    notes.push(format!(
        "{redelivered} duplicate S3 events and {} extra continuations; {invocations} invocations for {links} links that sent",
        queued.len() + 2
    ));
    Ok(Row {
        scenario: "duplicates: S3 event ×3 at once + mid-job + after the end; continuation ×3, older, much older, \
                   future, forged offset, after the end"
            .into(),
        runs: 1,
        result: "pass".into(),
        lost: 0,
        duplicated: 0,
        largest_window_users: 0,
        notes: notes.join("; "),
    })
}

fn check_summary(name: &str, summary: &Summary, users: u64) -> anyhow::Result<()> {
    anyhow::ensure!(summary.status == "done", "job {name}: {summary:?}");
    summary.counters.check_identities().map_err(|broken| anyhow::anyhow!("job {name}: identities {broken:?}"))?;
    anyhow::ensure!(summary.counters.entries == users, "job {name}: {} entries", summary.counters.entries);
    anyhow::ensure!(summary.counters.total_devices().failed == 0, "job {name}: failures without faults");
    Ok(())
}
