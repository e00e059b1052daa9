//! Operator controls (issue 16) on the local stack: moto, dynalite, the
//! event plane (S3 events, async Invoke, Scheduler), `cargo lambda watch`
//! and push-sandbox. Refusals, send later, canary, pause and resume (one
//! chain and sharded), throttle and stop, each sent as the CLI sends it.
//! One stack for all of them (CI's time): the scenarios run one after the
//! other, each on users of its own, the sandbox's counts reset in between.

use std::time::{Duration, Instant};

use chrono::Duration as Span;
use pushbatch_tests::clock::{ClockFile, instant, plane_idle, schedule_exists, scheduler_has_seen};
use pushbatch_tests::desk::{BY, Desk, REASON, refusal, state};
use pushbatch_tests::inline::{Inline, delivered, injected};
use pushbatch_tests::rate::Samples;
use pushbatch_tests::reliability::Bench;
use pushbatch_tests::{StackOptions, eventually};
use serde_json::{Value, json};
use shared::jobs::{ControlRead, JobStatus, LiveJobs};
use shared::report::Summary;

/// send-batch's batch: what "within one batch" counts.
const BATCH: u64 = 500;
/// Files of 1 MB and more are cut into this many shards; smaller ones
/// (under about 6,000 of these users) run as one chain.
const SHARDS: u64 = 3;
const WAIT: Duration = Duration::from_secs(300);

fn options(clock: &ClockFile) -> StackOptions {
    let mut opts = StackOptions::default()
        // Links hand on every few seconds: controls meet chains between links too.
        .fn_env("MAX_RUN_SECONDS", 5)
        .fn_env("SHARD_MIN_MB", 1)
        .fn_env("MAX_SHARDS", SHARDS)
        .fn_env("SHARD_TARGET_SECONDS", 1)
        .fn_env("SHARD_CHAIN_USERS_PER_SECOND", 1)
        // One attempt a device: the canary's injected faults are failures,
        // not retries (no other scenario injects any).
        .fn_env("PUSH_MAX_ATTEMPTS", 1)
        .fn_env("PUSHBATCH_CLOCK_FILE", clock.path().display());
    opts.sandbox_args = vec!["--track-tokens".into()];
    // Every shard at once, and one more for the controls' synchronous calls.
    opts.watch_args = vec![format!("--concurrency={}", SHARDS + 1)];
    opts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_controls_on_the_local_stack() -> anyhow::Result<()> {
    let clock = ClockFile::at(instant("2026-12-01T12:00:00Z"))?;
    let desk = Desk::new(Bench::bare(options(&clock)).await?);
    let d = &desk;
    desk.bench
        .explain(async {
            timed("bad input", bad_input(d)).await?;
            timed("send later", send_later(d, &clock)).await?;
            timed("canary", canary(d)).await?;
            timed("pause and resume, one chain", pause_and_resume(d, "pause-one", 5_000, 1)).await?;
            timed("pause and resume, sharded", pause_and_resume(d, "pause-shards", 12_000, SHARDS)).await?;
            timed("throttle", throttle(d)).await?;
            timed("stop", stop(d)).await
        })
        .await
}

async fn timed(name: &str, scenario: impl Future<Output = anyhow::Result<String>>) -> anyhow::Result<()> {
    let started = Instant::now();
    let found = scenario.await.map_err(|e| e.context(format!("scenario: {name}")))?;
    println!("CONTROLS {name}: {found} ({:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

/// Waits for the job's summary; checks its identities and that the
/// sandbox delivered what it counts, each device at most once.
async fn summary(d: &Desk, job: &str) -> anyhow::Result<Summary> {
    let (_, summary) = d.bench.finished_within(job, WAIT).await?;
    summary.counters.check_identities().map_err(|b| anyhow::anyhow!("identities of {job}: {b:?}"))?;
    plane_idle(&d.bench.stack).await?;
    let deliveries = d.bench.deliveries().await?;
    let twice: Vec<_> = deliveries.iter().filter(|(_, n)| **n > 1).take(5).collect();
    anyhow::ensure!(twice.is_empty(), "devices with more than one push: {twice:?}");
    let sandbox = delivered(&d.bench.stack).await?;
    let counted = summary.counters.total_devices().delivered;
    anyhow::ensure!(sandbox == counted, "the sandbox delivered {sandbox}, the summary says {counted}");
    Ok(summary)
}

async fn bad_input(d: &Desk) -> anyhow::Result<String> {
    d.fresh().await?;
    let answer = d.control("stop", "no-such-job").await?;
    anyhow::ensure!(refusal(&answer)? == "there is no job no-such-job", "{answer}");
    anyhow::ensure!(d.bench.jobs.control("no-such-job").await?.is_none(), "a control was written");

    let users = Inline::new("bad");
    for (name, header, field) in [
        ("malformed", json!({"send_at": "tomorrow at nine"}), "`send_at` must be an RFC 3339 time"),
        ("past", json!({"send_at": "2020-01-01T00:00:00Z"}), "`send_at` 2020-01-01T00:00:00Z is in the past"),
        ("percent", json!({"canary": {"percent": 150, "max_failure_rate": 0.1}}), "`canary.percent` must be"),
        ("rate", json!({"rate_per_second": -5}), "`rate_per_second` must be a number above 0"),
    ] {
        let job = d.upload(&format!("batches/bad-{name}.jsonl"), users.jsonl(header, 0..20)).await?.job_id;
        let (_, s) = d.bench.finished(&job).await?;
        let reason = s.reason.clone().unwrap_or_default();
        anyhow::ensure!(s.status == "failed" && reason.contains(field), "{name}: {} {reason}", s.status);
        anyhow::ensure!(s.counters.entries == 0, "{name}: {} entries read", s.counters.entries);
        anyhow::ensure!(!schedule_exists(&d.bench.stack, &format!("pb-{job}")).await?, "{name} was scheduled");
    }
    anyhow::ensure!(delivered(&d.bench.stack).await? == 0, "a refused file sent something");

    // A finished job: stopping it is refused naming it; a negative rate is
    // refused by the CLI before it sends anything, and by send-batch
    // naming the field. Nothing writes a control or changes the job.
    let job = d.upload("batches/bad-finished.jsonl", users.jsonl(json!({}), 0..20)).await?.job_id;
    let (before, _) = d.bench.finished(&job).await?;
    let answer = d.control("stop", &job).await?;
    let expected = format!("job {job} is already done: there is nothing to control");
    anyhow::ensure!(refusal(&answer)? == expected, "{answer}");
    let cli = d.throttle(&job, "-1").await.err().map(|e| e.to_string()).unwrap_or_default();
    anyhow::ensure!(cli.contains("the rate must be above 0"), "the CLI sent a negative rate: {cli}");
    let negative = json!({"control": {"job_id": job, "action": "throttle", "by": BY, "rate_per_second": -1}});
    let raw = d.invoke(&negative).await?;
    anyhow::ensure!(refusal(&raw)?.contains("`rate_per_second` must be a number above 0"), "{raw}");
    anyhow::ensure!(d.bench.jobs.control(&job).await?.is_none(), "a refusal wrote a control");
    let after = d.bench.record(&job).await?;
    anyhow::ensure!(after.as_ref() == Some(&before), "a refusal changed the job: {after:?}");
    Ok("every refusal named the job or the field; nothing sent or written".into())
}

async fn send_later(d: &Desk, clock: &ClockFile) -> anyhow::Result<String> {
    d.fresh().await?;
    let users = Inline::new("later");
    let at = clock.now()? + Span::seconds(20);
    let header = json!({"send_at": at.to_rfc3339()});
    let job = d.upload("batches/later.jsonl", users.jsonl(header.clone(), 0..50)).await?;
    anyhow::ensure!(job.status == JobStatus::Scheduled && job.send_at_ms == Some(at.timestamp_millis()), "{job:?}");
    let schedule = format!("pb-{}", job.job_id);
    scheduled(d, &schedule).await?;
    let listed = d.bench.jobs.live_jobs().await?;
    anyhow::ensure!(listed.iter().any(|r| r.job_id == job.job_id), "`pushbatch jobs` does not list it");

    // A second before its time the Scheduler looks, and nothing starts.
    clock.set(at - Span::seconds(1))?;
    scheduler_has_seen(&d.bench.stack, at - Span::seconds(1)).await?;
    let waiting = d.bench.record(&job.job_id).await?.map(|r| r.status);
    anyhow::ensure!(waiting == Some(JobStatus::Scheduled), "started early: {waiting:?}");
    anyhow::ensure!(schedule_exists(&d.bench.stack, &schedule).await?, "fired early");
    anyhow::ensure!(delivered(&d.bench.stack).await? == 0, "sent before send_at");
    clock.set(at)?;
    let s = summary(d, &job.job_id).await?;
    anyhow::ensure!(s.status == "done" && s.counters.entries == 50, "{s:?}");
    let pushes = users.pushes(&d.bench.deliveries().await?, 0..50);
    anyhow::ensure!(pushes.values().all(|&n| n == 1), "not one push each: {pushes:?}");

    // Stopped before its time: no schedule, stopped at once, and nothing
    // sent when its time has passed.
    d.fresh().await?;
    let at = clock.now()? + Span::seconds(20);
    let key = "batches/later-stopped.jsonl";
    let job = d.upload(key, users.jsonl(json!({"send_at": at.to_rfc3339()}), 50..100)).await?.job_id;
    scheduled(d, &format!("pb-{job}")).await?;
    let answer = d.control("stop", &job).await?;
    anyhow::ensure!(state(&answer)? == "stopped", "{answer}");
    anyhow::ensure!(!schedule_exists(&d.bench.stack, &format!("pb-{job}")).await?, "its schedule is still there");
    let s = summary(d, &job).await?;
    let not_sent = s.stopped.as_ref().and_then(|x| x.users_not_sent);
    anyhow::ensure!(s.status == "stopped" && s.counters.entries == 0 && not_sent == Some(50), "{s:?}");
    clock.set(at + Span::seconds(1))?;
    scheduler_has_seen(&d.bench.stack, at + Span::seconds(1)).await?;
    anyhow::ensure!(delivered(&d.bench.stack).await? == 0, "the stopped job sent");
    Ok("nothing before send_at, 50 sent at it; the stopped one sent nothing".into())
}

/// Waits for a schedule: a job's record is written before its schedule.
async fn scheduled(d: &Desk, name: &str) -> anyhow::Result<()> {
    eventually(&format!("the schedule {name}"), WAIT, || async {
        Ok(schedule_exists(&d.bench.stack, name).await?.then_some(()))
    })
    .await
}

async fn canary(d: &Desk) -> anyhow::Result<String> {
    d.fresh().await?;
    d.bench.stack.sandbox_config(&json!({"rate_500": 0.3})).await?;
    let users = Inline::new("canary");
    let header = json!({"canary": {"users": 1000, "max_failure_rate": 0.1}});
    let job = d.upload("batches/canary.jsonl", users.jsonl(header, 0..3000)).await?.job_id;
    let s = summary(d, &job).await?;
    let reason = s.reason.clone().unwrap_or_default();
    let stopped = s.stopped.as_ref();
    anyhow::ensure!(s.status == "stopped" && stopped.map(|x| x.by.as_str()) == Some("canary"), "{s:?}");
    anyhow::ensure!(s.counters.entries == 1000, "{} entries, not the canary's 1,000", s.counters.entries);
    anyhow::ensure!(stopped.and_then(|x| x.users_not_sent) == Some(2000), "{stopped:?}");
    // "canary: failure rate 29.7% after 1000 canary users (1000 devices), above the 10.0% allowed"
    let rate: f64 = reason
        .split("failure rate ")
        .nth(1)
        .and_then(|r| r.split('%').next())
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("the reason names no failure rate: {reason}"))?;
    anyhow::ensure!((20.0..40.0).contains(&rate) && reason.contains("above the 10.0% allowed"), "{reason}");
    let faults = injected(&d.bench.stack).await?;
    let d_counts = s.counters.total_devices();
    anyhow::ensure!(d_counts.failed == faults && d_counts.attempted == 1000, "{d_counts:?}, {faults} injected");
    Ok(format!("stopped after 1,000 users: {reason}"))
}

async fn pause_and_resume(d: &Desk, tag: &str, users: u64, shards: u64) -> anyhow::Result<String> {
    d.fresh().await?;
    // 200 ms a request, and a rate that makes the job take a few seconds:
    // a chain reads up to PIPELINE_BATCHES batches ahead, so without it the
    // reading could pass the end before the pause is written.
    d.bench.stack.sandbox_config(&json!({"latency_ms": 200})).await?;
    let inline = Inline::new(tag);
    let header = json!({"rate_per_second": users / 4});
    let job = d.upload(&format!("batches/{tag}.jsonl"), inline.jsonl(header, 0..users)).await?.job_id;
    eventually("a few batches to be sent", WAIT, || async {
        Ok((d.live(&job).await?.counters.entries >= 2 * BATCH).then_some(()))
    })
    .await?;
    let answer = d.control("pause", &job).await?;
    anyhow::ensure!(state(&answer)? == "paused", "{answer}");
    let paused = d.at_rest(&job).await?;
    let cut = paused.shards.as_ref().map_or(1, |s| u64::from(s.count()));
    anyhow::ensure!(cut == shards, "{cut} chains, not {shards}");
    let at_pause = paused.counters.entries;
    anyhow::ensure!(paused.status == JobStatus::Running && at_pause < users, "paused too late: {paused:?}");
    let sandbox = delivered(&d.bench.stack).await?;
    let checkpointed = paused.counters.total_devices().delivered;
    anyhow::ensure!(sandbox == checkpointed, "paused with {sandbox} delivered but {checkpointed} checkpointed");

    // Resumed twice: the second finds it running and changes nothing.
    let first = d.control("resume", &job).await?;
    anyhow::ensure!(state(&first)? == "running" && first["control"]["links_woken"].as_u64() >= Some(1), "{first}");
    let second = d.control("resume", &job).await?;
    anyhow::ensure!(state(&second)? == "running", "{second}");
    let s = summary(d, &job).await?;
    anyhow::ensure!(s.status == "done" && s.counters.entries == users, "{s:?}");
    let pushes = inline.pushes(&d.bench.deliveries().await?, 0..users);
    let wrong: Vec<_> = pushes.iter().filter(|(_, n)| **n != 1).take(5).collect();
    anyhow::ensure!(wrong.is_empty(), "users without exactly one push: {wrong:?}");
    Ok(format!("{users} users in {shards} chain(s), paused at {at_pause}: each device once"))
}

/// The sandbox's steady rate, users a second, while a job of `users`
/// (one device each) runs; the job's summary.
async fn measure(d: &Desk, tag: &str, header: Value, users: u64) -> anyhow::Result<(f64, Summary, String)> {
    d.fresh().await?;
    let inline = Inline::new(tag);
    let job = d.upload(&format!("batches/{tag}.jsonl"), inline.jsonl(header, 0..users)).await?.job_id;
    let samples = Samples::until(&d.bench.stack, users, WAIT).await?;
    let s = summary(d, &job).await?;
    anyhow::ensure!(s.status == "done" && s.shards == Some(SHARDS as u32), "{s:?}");
    let rate = samples.steady_rate(0.2, 0.9).ok_or_else(|| anyhow::anyhow!("too few samples: {samples:?}"))?;
    let how = format!("{rate:.0}/s over {:.1} s", samples.span(0.2, 0.9));
    Ok((rate, s, how))
}

async fn throttle(d: &Desk) -> anyhow::Result<String> {
    // Enough users that the pipelined chains send for seconds: the steady
    // part (20–90%) needs ten samples of the sandbox's count.
    let (fastest, _, unthrottled) = measure(d, "unthrottled", json!({}), 40_000).await?;
    // The 2,000 users/s, when the stack outruns it by half again: a
    // throttle the stack barely beats measures the stack, not the throttle.
    // The debug build on this 2-core machine, three chains together,
    // reached 2,500–2,900 a second (one chain: 1,200–1,700), so here the
    // throttle is half of what the stack just reached, in steps of 50.
    let rate = if fastest >= 3_000.0 { 2_000.0 } else { (fastest / 2.0 / 50.0).floor() * 50.0 };
    anyhow::ensure!(rate >= 200.0, "unthrottled, the stack sent only {unthrottled}: too slow to show a throttle");
    // At least 15 s of sending, so the steady part holds many batches.
    let users = ((rate * 15.0) as u64).max(9_000);
    let (seen, s, throttled) = measure(d, "throttled", json!({"rate_per_second": rate}), users).await?;
    anyhow::ensure!((seen - rate).abs() <= 0.1 * rate, "throttled to {rate}/s, the sandbox saw {throttled}");
    anyhow::ensure!(s.counters.entries == users, "{s:?}");
    Ok(format!("unthrottled {unthrottled}; throttled to {rate}/s, the sandbox saw {throttled}"))
}

async fn stop(d: &Desk) -> anyhow::Result<String> {
    const USERS: u64 = 100_000;
    d.fresh().await?;
    // 300 ms a request: 100k users take about a minute; the stop lands mid-send.
    d.bench.stack.sandbox_config(&json!({"latency_ms": 300})).await?;
    let users = Inline::new("stop");
    let key = "batches/stop.jsonl";
    let job = d.upload(key, users.jsonl(json!({}), 0..USERS)).await?.job_id;
    eventually("the job to be sending", WAIT, || async {
        Ok((delivered(&d.bench.stack).await? >= 10 * BATCH).then_some(()))
    })
    .await?;
    let answer = d.control("stop", &job).await?;
    anyhow::ensure!(state(&answer)? == "stopped", "{answer}");
    let at_stop = delivered(&d.bench.stack).await?;
    let s = summary(d, &job).await?;
    let chains = u64::from(s.shards.unwrap_or(1));
    let total = delivered(&d.bench.stack).await?;
    let after = total - at_stop;
    anyhow::ensure!(chains == SHARDS, "{chains} chains, not {SHARDS}");
    // A stop is read before each batch; the window already open finishes.
    let window = pushbatch_tests::reliability::PIPELINE_BATCHES * BATCH;
    anyhow::ensure!(after <= chains * window, "{after} deliveries after the stop: more than one window per chain");
    let stopped = s.stopped.as_ref().ok_or_else(|| anyhow::anyhow!("no stop in the summary: {s:?}"))?;
    anyhow::ensure!(s.status == "stopped" && stopped.by == BY && stopped.reason.as_deref() == Some(REASON), "{s:?}");
    anyhow::ensure!(stopped.users_not_sent == Some(USERS - s.counters.entries), "{stopped:?}");
    anyhow::ensure!(s.counters.entries < USERS / 2, "stopped too late: {} entries", s.counters.entries);

    // Nothing restarts it: the upload's event again, nor a resume.
    anyhow::ensure!(d.bench.redeliver_s3(key).await? >= 1, "no event to redeliver");
    let resume = d.control("resume", &job).await?;
    anyhow::ensure!(refusal(&resume)?.contains("already stopped"), "{resume}");
    plane_idle(&d.bench.stack).await?;
    anyhow::ensure!(delivered(&d.bench.stack).await? == total, "something sent after the stop was final");
    Ok(format!("{USERS} users in {chains} shards, stopped at {at_stop} delivered, {after} after; {total} in all"))
}
