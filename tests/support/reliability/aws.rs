//! AWS-side faults (issue #8 item 4): send-batch talks to DynamoDB and S3
//! through [`FaultProxy`]s that throttle, return `UnprocessedKeys` and
//! `SlowDown`/`InternalError`. The SDKs back off and retry; send-batch
//! re-asks for unprocessed keys; an invocation that still fails is retried
//! by the plane and resumes from its checkpoint. Nothing may be lost.
//!
//! A second, exact fault: the checkpoint right after a batch's failures
//! were written is throttled past the SDK's retries, so the batch is sent
//! again by the retry (with the provider healthy by then). failed.jsonl must
//! then hold only what really failed, and re-driving it must not send
//! anything twice.

use std::collections::BTreeSet;
use std::time::Duration;

use pushbatch::local;
use serde_json::json;

use super::{Bench, Population, Row, Tally};
use crate::fault_proxy::{FaultProxy, Faults, Service, Trip};
use crate::{StackOptions, eventually};

pub const BATCH_SIZE: u64 = 100;

#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Users of the job sent through random faults.
    pub users: u64,
    /// Users of the job whose checkpoint is failed on purpose.
    pub trip_users: u64,
}

/// The random faults: well above what a healthy table or bucket shows, yet
/// low enough that the plane's two retries (Lambda's) are never all used up.
/// An invocation fails when one of its calls fails all 3 of the SDK's
/// attempts: at a fault rate q and n calls a link, about n·q³. At 15 % for S3
/// (the rate this test used first) and the ~60 S3 calls of a 4 s link once
/// the send path got faster, that is ~20 % an invocation and ~1 % a link for
/// three failures in a row (a dead-lettered chain, which CI met once); at
/// 8 %, ~3 % an invocation and ~3 in 100,000 links.
pub const FAULTS: Faults =
    Faults { dynamo_throttle: 0.05, dynamo_unprocessed: 0.3, s3_slow_down: 0.05, s3_internal: 0.03 };

pub async fn run(size: Size, seed: u64) -> anyhow::Result<Vec<Row>> {
    let population = Population::new(size.users + size.trip_users, seed);
    let dynamo = FaultProxy::start(Service::DynamoDb, seed).await?;
    let s3 = FaultProxy::start(Service::S3, seed.wrapping_add(1)).await?;
    let mut opts = StackOptions::default()
        .fn_env("MAX_RUN_SECONDS", 4)
        // Every link reads the file with ranged GETs instead of the warm
        // cache, so S3 sees more requests to fail.
        .fn_env("FILE_CACHE_MAX_MB", 0)
        .fn_env("BATCH_SIZE", BATCH_SIZE)
        .fn_env("LEASE_SECONDS", 2)
        .fn_env("PUSH_MAX_ATTEMPTS", 2)
        .fn_env("PUSH_RETRY_BASE_MS", 10);
    opts.sandbox_args = vec!["--track-tokens".into(), format!("--seed={seed}")];
    opts.plane_args = vec!["--retry-delays-ms=500,1000".into()];
    // The test's own clients keep the direct endpoints of stack.env; only
    // the functions are re-pointed at the proxies below.
    let bench = Bench::start(opts, population).await?;
    dynamo.set_upstream(&format!("http://127.0.0.1:{}", bench.stack.ports().dynalite()))?;
    s3.set_upstream(bench.stack.var("AWS_ENDPOINT_URL_S3")?)?;
    let mut config = bench.stack.config().clone();
    config.fn_env.set("AWS_ENDPOINT_URL_DYNAMODB", dynamo.url());
    config.fn_env.set("AWS_ENDPOINT_URL_S3", s3.url());
    // `up` restarts watch because stack.env changed.
    local::up(&config).await?;
    bench.explain(scenario(&bench, &dynamo, &s3, size, seed)).await
}

async fn scenario(
    bench: &Bench,
    dynamo: &FaultProxy,
    s3: &FaultProxy,
    size: Size,
    seed: u64,
) -> anyhow::Result<Vec<Row>> {
    let random = random_faults(bench, dynamo, s3, size.users, seed).await?;
    dynamo.set_faults(Faults::NONE);
    s3.set_faults(Faults::NONE);
    let trip_users = size.users..size.users + size.trip_users;
    let tripped = failed_checkpoint(bench, dynamo, s3, trip_users.clone(), seed).await?;
    let lost = lost_checkpoint_answer(bench, dynamo, trip_users, seed).await?;
    Ok(vec![random, tripped, lost])
}

async fn random_faults(
    bench: &Bench,
    dynamo: &FaultProxy,
    s3: &FaultProxy,
    users: u64,
    seed: u64,
) -> anyhow::Result<Row> {
    dynamo.set_faults(FAULTS);
    s3.set_faults(FAULTS);
    // S3 sees only a few requests a link: the first two reads of the file
    // fail for sure, on top of the random faults.
    s3.fail_while("GET", &Trip::armed(2));
    let key = "batches/aws-faults.jsonl";
    let etag = bench.put(key, bench.population.jsonl("aws-faults", 0..users)).await?;
    let job = bench.job_of(key, &etag).await?.job_id;
    let (record, summary) = bench.finished(&job).await?;
    let plane = bench.plane_idle(Duration::from_secs(60)).await?;
    dynamo.set_faults(Faults::NONE);
    s3.set_faults(Faults::NONE);

    let expected = bench.population.expect(0..users);
    let deliveries = bench.deliveries().await?;
    let failed = bench.failed(&summary).await?;
    let tally = Tally::new(&expected, &deliveries, &failed, BATCH_SIZE);
    let (dynamo_counts, s3_counts) = (dynamo.counts(), s3.counts());
    println!("aws faults (seed {seed}): {}", tally.describe());
    println!("aws faults: dynamodb {dynamo_counts:?}");
    println!("aws faults: s3 {s3_counts:?}");
    println!("aws faults: plane {plane}");

    anyhow::ensure!(summary.status == "done", "{summary:?}");
    let c = &summary.counters;
    c.check_identities().map_err(|b| anyhow::anyhow!("identities: {b:?}"))?;
    anyhow::ensure!(c.entries == users, "{} entries", c.entries);
    anyhow::ensure!(tally.lost.is_empty(), "lost: {}", tally.describe());
    anyhow::ensure!(tally.stray.is_empty(), "sent where it should not: {}", tally.describe());
    anyhow::ensure!(failed.is_empty(), "devices failed with a healthy provider: {failed:?}");
    // An invocation that failed despite the SDK's retries is retried by the
    // plane and resends at most the batches it had open (its window).
    let failed_invocations = plane["by_function"]["send-batch"]["errors"].as_u64().unwrap_or(0);
    anyhow::ensure!(
        tally.duplicate_batches.len() as u64 <= failed_invocations * super::PIPELINE_BATCHES,
        "duplicates in {} batches but only {failed_invocations} failed invocations: {}",
        tally.duplicate_batches.len(),
        tally.describe()
    );
    let sandbox_total: u64 = deliveries.values().sum();
    anyhow::ensure!(
        sandbox_total == c.total_devices().delivered + tally.extra_deliveries,
        "sandbox {sandbox_total}, summary {} + {} resent",
        c.total_devices().delivered,
        tally.extra_deliveries
    );
    anyhow::ensure!(plane["dead_lettered"].as_u64() == Some(0), "dead-lettered: {plane}");
    let table = bench.table_tokens().await?;
    anyhow::ensure!(expected.live.keys().all(|t| table.contains(t)), "a live token was removed");
    // A prune whose DynamoDB calls stay throttled past the SDK's retries is
    // logged and given up (the batch must not be resent for it): such a dead
    // token stays in the table until a later send meets it again.
    let unpruned = expected.dead.keys().filter(|t| table.contains(*t)).count();
    let gave_up = bench.log_count(crate::Part::Watch, "could not remove a dead token")?;
    anyhow::ensure!(unpruned <= gave_up, "{unpruned} dead tokens left in the table, {gave_up} prunes given up");
    let injected = |counts: &crate::fault_proxy::FaultCounts, what: &str| -> u64 {
        counts.iter().filter(|(k, _)| k.contains(what)).map(|(_, v)| v).sum()
    };
    let throttled = injected(&dynamo_counts, " throttled");
    let unprocessed = injected(&dynamo_counts, " unprocessed-keys");
    let s3_errors = injected(&s3_counts, " slow-down") + injected(&s3_counts, " internal-error");
    anyhow::ensure!(throttled > 0 && unprocessed > 0 && s3_errors > 0, "faults were not all exercised");

    Ok(Row {
        scenario: format!(
            "AWS faults (fault proxy): DynamoDB {}% ProvisionedThroughputExceeded, UnprocessedKeys on {}% of \
             BatchGetItem; S3 {}% SlowDown, {}% InternalError, the first 2 GETs SlowDown",
            FAULTS.dynamo_throttle * 100.0,
            FAULTS.dynamo_unprocessed * 100.0,
            FAULTS.s3_slow_down * 100.0,
            FAULTS.s3_internal * 100.0
        ),
        runs: 1,
        result: "pass".into(),
        lost: 0,
        duplicated: tally.duplicated.len() as u64,
        largest_window_users: tally.largest_window_users,
        notes: format!(
            "{users} users; {throttled} throttles, {unprocessed} keys unprocessed, {s3_errors} S3 errors; \
             {failed_invocations} invocations failed past the SDK retries and were retried; {} invocations; \
             {unpruned} of {} dead tokens left in the table (prune given up after the SDK's retries, logged)",
            record.invocations,
            expected.dead.len()
        ),
    })
}

async fn failed_checkpoint(
    bench: &Bench,
    dynamo: &FaultProxy,
    s3: &FaultProxy,
    users: std::ops::Range<u64>,
    seed: u64,
) -> anyhow::Result<Row> {
    bench.stack.sandbox_reset_stats().await?;
    // Half the devices fail their two attempts, so the first batch surely
    // writes a failed part.
    bench.stack.sandbox_config(&json!({"rate_503": 0.7})).await?;
    let trip = Trip::default();
    s3.arm_on("/failed-parts/", &trip, 3);
    // The SDK makes 3 attempts: all of them fail.
    dynamo.fail_while("PutItem", &trip);
    let key = "batches/failed-checkpoint.jsonl";
    let etag = bench.put(key, bench.population.jsonl("failed-checkpoint", users.clone())).await?;
    let job = bench.job_of(key, &etag).await?.job_id;
    eventually("a failed part to be written", Duration::from_secs(120), || async { Ok(trip.fired().then_some(())) })
        .await?;
    // The provider recovers before the retry resends the batch.
    bench.stack.sandbox_config(&json!({"rate_503": 0.0})).await?;
    let (_, summary) = bench.finished(&job).await?;
    let plane = bench.plane_idle(Duration::from_secs(60)).await?;
    let expected = bench.population.expect(users.clone());
    let deliveries = bench.deliveries().await?;
    let failed = bench.failed(&summary).await?;
    let tally = Tally::new(&expected, &deliveries, &failed, BATCH_SIZE);
    println!("failed checkpoint (seed {seed}): {}; dynamodb {:?}; plane {plane}", tally.describe(), dynamo.counts());

    anyhow::ensure!(summary.status == "done", "{summary:?}");
    summary.counters.check_identities().map_err(|b| anyhow::anyhow!("identities: {b:?}"))?;
    anyhow::ensure!(
        plane["by_function"]["send-batch"]["errors"].as_u64() >= Some(1),
        "the throttled checkpoint did not fail the invocation: {plane}"
    );
    anyhow::ensure!(tally.lost.is_empty(), "lost: {}", tally.describe());
    anyhow::ensure!(
        tally.duplicate_batches.len() as u64 <= super::PIPELINE_BATCHES,
        "duplicates beyond the resent window: {}",
        tally.describe()
    );
    let delivered_and_failed: Vec<&String> = failed.iter().filter(|t| deliveries.contains_key(*t)).collect();
    anyhow::ensure!(
        delivered_and_failed.is_empty(),
        "failed.jsonl lists {} devices that were delivered (a stale failed part of the resent batch); \
         summary failed = {}, failed.jsonl = {}",
        delivered_and_failed.len(),
        summary.counters.total_devices().failed,
        failed.len()
    );
    anyhow::ensure!(
        summary.counters.total_devices().failed == failed.len() as u64,
        "summary says {} failed, failed.jsonl lists {}",
        summary.counters.total_devices().failed,
        failed.len()
    );

    // Re-driving sends only what never arrived.
    let before = bench.deliveries().await?;
    let mut redriven = 0;
    if let Some(report) = &summary.failed_report {
        let redrive_key = "batches/redrive-failed-checkpoint.jsonl";
        let etag = bench.copy(report, redrive_key).await?;
        let redrive = bench.job_of(redrive_key, &etag).await?.job_id;
        let (_, again) = bench.finished(&redrive).await?;
        anyhow::ensure!(again.status == "done", "{again:?}");
        redriven = again.counters.total_devices().attempted;
    }
    let after = bench.deliveries().await?;
    let tally_after = Tally::new(&expected, &after, &BTreeSet::new(), BATCH_SIZE);
    let twice_by_redrive: Vec<&String> =
        after.iter().filter(|(t, n)| before.get(*t).is_some_and(|m| *n > m)).map(|(t, _)| t).collect();
    anyhow::ensure!(twice_by_redrive.is_empty(), "the re-drive sent {} devices again", twice_by_redrive.len());
    anyhow::ensure!(tally_after.lost.is_empty(), "lost after the re-drive: {}", tally_after.describe());

    Ok(Row {
        scenario: "AWS faults: the checkpoint after a batch with failures throttled past the SDK's retries, \
                   provider healthy for the retry; then re-drive"
            .into(),
        runs: 1,
        result: "pass".into(),
        lost: 0,
        duplicated: tally.duplicated.len() as u64,
        largest_window_users: tally.largest_window_users,
        notes: format!(
            "{} users; the resent batch's devices are the duplicates; failed.jsonl {} devices, re-drive sent {redriven}",
            users.end - users.start,
            failed.len()
        ),
    })
}

/// The first checkpoint's PutItem is applied but its answer is lost (a 500
/// after the write, as when a response times out); the SDK retries it and
/// the retry's condition fails on the write it made itself. The job must
/// still run to the end, sending every device once.
async fn lost_checkpoint_answer(
    bench: &Bench,
    dynamo: &FaultProxy,
    users: std::ops::Range<u64>,
    seed: u64,
) -> anyhow::Result<Row> {
    bench.stack.sandbox_reset_stats().await?;
    bench.stack.sandbox_config(&json!({"rate_503": 0.0})).await?;
    // PutItem 1 creates the job record; PutItem 2 is the first checkpoint.
    let trip = Trip::armed_after(1, 1);
    dynamo.lose_answers_while("PutItem", &trip);
    let key = "batches/lost-answer.jsonl";
    let etag = bench.put(key, bench.population.jsonl("lost-answer", users.clone())).await?;
    let job = bench.job_of(key, &etag).await?.job_id;
    let ended = bench.finished_within(&job, Duration::from_secs(90)).await;
    let record = bench.record(&job).await?;
    let (_, summary) = ended.map_err(|e| {
        e.context(format!(
            "the job was stranded after a checkpoint whose answer was lost (trip left {}); record: {record:?}",
            trip.remaining()
        ))
    })?;
    let expected = bench.population.expect(users.clone());
    let deliveries = bench.deliveries().await?;
    let tally = Tally::new(&expected, &deliveries, &BTreeSet::new(), BATCH_SIZE);
    println!("lost checkpoint answer (seed {seed}): {}; dynamodb {:?}", tally.describe(), dynamo.counts());
    anyhow::ensure!(trip.remaining() == 0, "the checkpoint's answer was never lost");
    anyhow::ensure!(summary.status == "done", "{summary:?}");
    summary.counters.check_identities().map_err(|b| anyhow::anyhow!("identities: {b:?}"))?;
    anyhow::ensure!(summary.counters.entries == users.end - users.start, "{} entries", summary.counters.entries);
    anyhow::ensure!(tally.lost.is_empty(), "lost: {}", tally.describe());
    anyhow::ensure!(tally.duplicated.is_empty(), "sent twice: {}", tally.describe());
    anyhow::ensure!(tally.stray.is_empty(), "sent where it should not: {}", tally.describe());
    Ok(Row {
        scenario: "AWS faults: a checkpoint PutItem applied but answered 500 (lost answer), retried by the SDK".into(),
        runs: 1,
        result: "pass".into(),
        lost: 0,
        duplicated: 0,
        largest_window_users: 0,
        notes: format!("{} users; the retried write is recognised as the invocation's own", users.end - users.start),
    })
}
