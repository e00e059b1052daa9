//! Operator controls in-process: stop, pause and resume, throttle, canary
//! and send later, single chain and sharded, and the refusals.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::{Value, json};
use shared::batch::{Device, Platform};
use shared::devices::{MemoryDevices, UserDevices};
use shared::jobs::{JobRecord, JobStatus};
use shared::report::Summary;
use shared::shards::ShardPolicy;

/// Runs queued continuations, at most `links` of them (the rest stay queued).
async fn step(d: &TestDeps, links: usize) -> usize {
    let mut ran = 0;
    while ran < links {
        let queued = d.invoker.take();
        if queued.is_empty() {
            break;
        }
        let mut rest = queued.into_iter();
        for (_, payload) in rest.by_ref() {
            invoke(d, serde_json::from_slice(&payload).unwrap()).await;
            ran += 1;
            if ran == links {
                break;
            }
        }
        d.invoker.sent.lock().unwrap().extend(rest);
    }
    ran
}

fn control(job: &str, action: &str) -> Value {
    json!({"control": {"job_id": job, "action": action, "by": "ops@example.com", "reason": "wrong link"}})
}

fn job_of(d: &TestDeps, key: &str) -> JobRecord {
    d.jobs.records.lock().unwrap().values().find(|r| r.key == key && r.shard.is_none()).cloned().expect("the job")
}

fn summary_of(d: &TestDeps, job: &str) -> Summary {
    serde_json::from_slice(&d.objects.get(BUCKET, &format!("reports/{job}/summary.json")).expect("a summary")).unwrap()
}

fn sends(d: &TestDeps) -> u32 {
    d.push.delivered.lock().unwrap().values().sum()
}

fn start(d: &TestDeps, key: &str, body: String) -> String {
    d.objects.insert(BUCKET, key, body)
}

#[tokio::test]
async fn a_stop_ends_the_chain_within_one_batch_and_nothing_restarts_it() {
    let n = 600;
    let d = deps(n, 20, Some(0.0));
    let key = "batches/stop.jsonl";
    let etag = start(&d, key, jsonl_file(n));
    invoke(&d, s3_event(key, &etag, "01")).await;
    step(&d, 3).await;
    let job = job_of(&d, key).job_id;
    let before = sends(&d);
    let answer = invoke(&d, control(&job, "stop")).await;
    assert_eq!(answer["control"]["state"], "stopped", "{answer}");
    drain(&d).await;
    assert_eq!(sends(&d), before, "nothing after the stop is sent");

    let s = summary_of(&d, &job);
    assert_eq!(s.status, "stopped");
    let stopped = s.stopped.as_ref().expect("who stopped it");
    assert_eq!(stopped.by, "ops@example.com");
    assert_eq!(stopped.reason.as_deref(), Some("wrong link"));
    assert_eq!(stopped.users_not_sent, Some(n as u64 - s.counters.entries));
    assert!(s.counters.entries > 0 && s.counters.entries < n as u64);
    assert_eq!(s.total_entries, Some(n as u64));
    s.counters.check_identities().unwrap();

    // No retry of the upload, no continuation, no resume restarts it.
    invoke(&d, s3_event(key, &etag, "01")).await;
    let record = job_of(&d, key);
    invoke(
        &d,
        json!({"continue": {"job_id": job, "bucket": BUCKET, "key": key, "etag": etag,
        "offset": record.offset, "seq": record.seq}}),
    )
    .await;
    let refused = invoke(&d, control(&job, "resume")).await;
    assert!(refused["refused"]["reason"].as_str().unwrap().contains("already stopped"), "{refused}");
    drain(&d).await;
    assert_eq!(sends(&d), before);
}

#[tokio::test]
async fn pause_and_resume_deliver_every_device_exactly_once() {
    let n = 400;
    let d = deps(n, 20, Some(0.0));
    let key = "batches/pause.jsonl";
    let etag = start(&d, key, jsonl_file(n));
    invoke(&d, s3_event(key, &etag, "01")).await;
    step(&d, 2).await;
    let job = job_of(&d, key).job_id;
    assert_eq!(invoke(&d, control(&job, "pause")).await["control"]["state"], "paused");
    drain(&d).await;
    let paused = job_of(&d, key);
    assert_eq!((paused.status, paused.owner.as_deref()), (JobStatus::Running, None), "let go at its checkpoint");
    assert!(paused.counters.entries < n as u64);
    let sent = sends(&d);
    drain(&d).await;
    assert_eq!(sends(&d), sent, "a paused job sends nothing");

    // Resume twice: the second is a no-op, its extra link loses its claim.
    let first = invoke(&d, control(&job, "resume")).await;
    assert_eq!(first["control"]["links_woken"], 1, "{first}");
    invoke(&d, control(&job, "resume")).await;
    drain(&d).await;
    let s = summary_of(&d, &job);
    assert_eq!((s.status.as_str(), s.counters.entries), ("done", n as u64));
    assert!(d.push.delivered.lock().unwrap().values().all(|&c| c == 1), "a device got two pushes");
    s.counters.check_identities().unwrap();
}

fn sharded(n: usize) -> TestDeps {
    let mut d = deps(n, 25, Some(0.0));
    d.settings.shards = ShardPolicy {
        min_bytes: 1,
        max_shards: 4,
        target: std::time::Duration::from_secs(1),
        chain_users_per_second: 1.0,
        quota_users_per_second: None,
    };
    d
}

#[tokio::test]
async fn a_sharded_job_pauses_every_shard_and_stops_every_shard() {
    let n = 800;
    let d = sharded(n);
    let key = "batches/sharded.jsonl";
    let etag = start(&d, key, jsonl_file(n));
    invoke(&d, s3_event(key, &etag, "01")).await;
    step(&d, 5).await;
    let job = job_of(&d, key).job_id;
    invoke(&d, control(&job, "pause")).await;
    drain(&d).await;
    let shards: Vec<JobRecord> =
        d.jobs.records.lock().unwrap().values().filter(|r| r.shard.is_some()).cloned().collect();
    assert_eq!(shards.len(), 4);
    assert!(shards.iter().all(|s| s.owner.is_none()), "every shard let go");
    let sent = sends(&d);
    let resumed = invoke(&d, control(&job, "resume")).await;
    assert!(resumed["control"]["links_woken"].as_u64().unwrap() >= 1, "{resumed}");
    step(&d, 6).await;
    assert!(sends(&d) > sent, "resumed shards send");

    let before = sends(&d);
    invoke(&d, control(&job, "stop")).await;
    drain(&d).await;
    assert_eq!(sends(&d), before, "nothing after the stop is sent");
    let s = summary_of(&d, &job);
    assert_eq!(s.status, "stopped");
    assert_eq!(s.stopped.as_ref().unwrap().users_not_sent, Some(n as u64 - s.counters.entries));
    s.counters.check_identities().unwrap();
}

#[tokio::test]
async fn a_paused_then_resumed_sharded_job_delivers_every_device_exactly_once() {
    let n = 600;
    let d = sharded(n);
    let key = "batches/resume-shards.jsonl";
    let etag = start(&d, key, jsonl_file(n));
    invoke(&d, s3_event(key, &etag, "01")).await;
    step(&d, 3).await;
    let job = job_of(&d, key).job_id;
    invoke(&d, control(&job, "pause")).await;
    drain(&d).await;
    invoke(&d, control(&job, "resume")).await;
    drain(&d).await;
    let s = summary_of(&d, &job);
    assert_eq!((s.status.as_str(), s.counters.entries), ("done", n as u64));
    assert!(d.push.delivered.lock().unwrap().values().all(|&c| c == 1));
}

/// `n` users with one iOS device each; every third of them fails.
fn failing_third(n: usize) -> MemoryDevices {
    MemoryDevices::with((0..n).map(|i| {
        let prefix = if i % 3 == 0 { "bad0" } else { "" };
        let devices = vec![Device::new(Platform::Ios, ios_token(i, prefix))];
        (
            format!("u-{i}"),
            UserDevices { devices, push_enabled: true, muted_categories: HashSet::new(), ..UserDevices::default() },
        )
    }))
}

fn with_header(extra: Value, n: usize) -> String {
    let mut h = header();
    for (k, v) in extra.as_object().unwrap() {
        h[k] = v.clone();
    }
    let mut out = h.to_string();
    for i in 0..n {
        out.push_str(&format!("\n\"u-{i}\""));
    }
    out
}

#[tokio::test]
async fn a_canary_above_its_failure_rate_stops_the_job_and_names_the_rate() {
    let n = 300;
    let mut d = deps(0, 20, Some(0.0));
    d.devices = failing_third(n);
    let key = "batches/canary.jsonl";
    let body = with_header(json!({"canary": {"users": 50, "max_failure_rate": 0.1}}), n);
    let etag = start(&d, key, body);
    invoke(&d, s3_event(key, &etag, "01")).await;
    drain(&d).await;
    let job = job_of(&d, key).job_id;
    let s = summary_of(&d, &job);
    assert_eq!(s.status, "stopped");
    assert_eq!(s.counters.entries, 50, "exactly the canary's users");
    let reason = s.reason.unwrap();
    assert!(reason.contains("stopped by canary") && reason.contains("failure rate 34.0%"), "{reason}");
    assert_eq!(s.stopped.unwrap().users_not_sent, Some(n as u64 - 50));
}

#[tokio::test]
async fn a_canary_that_passes_pauses_for_a_person_then_the_job_goes_on() {
    let n = 200;
    let d = deps(n, 30, Some(0.0));
    let key = "batches/canary-pause.jsonl";
    let body = with_header(json!({"canary": {"percent": 10, "max_failure_rate": 0.5, "then": "pause"}}), n);
    let etag = start(&d, key, body);
    invoke(&d, s3_event(key, &etag, "01")).await;
    drain(&d).await;
    let paused = job_of(&d, key);
    assert_eq!((paused.status, paused.counters.entries), (JobStatus::Running, 20), "10% of 200, then a pause");
    let control = d.jobs.controls.lock().unwrap().get(&paused.job_id).cloned().unwrap();
    assert_eq!(control.by, "canary");
    assert!(control.reason.unwrap().starts_with("canary passed"));
    invoke(&d, json!({"control": {"job_id": paused.job_id, "action": "resume", "by": "ann@example.com"}})).await;
    drain(&d).await;
    let s = summary_of(&d, &paused.job_id);
    assert_eq!((s.status.as_str(), s.counters.entries), ("done", n as u64));
}

#[tokio::test]
async fn a_canary_keeps_a_big_file_in_one_chain_then_cuts_the_rest_into_shards() {
    let n = 800;
    let d = sharded(n);
    let key = "batches/canary-shards.jsonl";
    let body = with_header(json!({"canary": {"users": 40, "max_failure_rate": 0.5}}), n);
    let etag = start(&d, key, body);
    invoke(&d, s3_event(key, &etag, "01")).await;
    assert!(job_of(&d, key).shards.is_none(), "not cut before the canary");
    drain(&d).await;
    let job = job_of(&d, key);
    let set = job.shards.as_ref().expect("cut after the canary");
    assert!(set.bounds[0] > job.layout.as_ref().unwrap().users_start, "the canary's part is not cut again");
    let s = summary_of(&d, &job.job_id);
    assert_eq!((s.status.as_str(), s.counters.entries), ("done", n as u64));
    assert!(d.push.delivered.lock().unwrap().values().all(|&c| c == 1));
}

#[tokio::test]
async fn a_job_sent_later_waits_for_its_schedule_and_can_be_stopped_before() {
    let n = 50;
    let d = deps(n, 20, None);
    let at = chrono::Utc::now() + chrono::Duration::hours(2);
    let key = "batches/later.jsonl";
    let etag = start(&d, key, with_header(json!({"send_at": at.to_rfc3339()}), n));
    let answer = invoke(&d, s3_event(key, &etag, "01")).await;
    assert!(answer.to_string().contains("scheduled for"), "{answer}");
    let job = job_of(&d, key);
    assert_eq!(job.status, JobStatus::Scheduled);
    assert_eq!(job.send_at_ms, Some(at.timestamp_millis()));
    assert_eq!(d.schedules.names(), vec![format!("pb-{}", job.job_id)]);
    assert_eq!(sends(&d), 0);
    // A repeated upload event does not start it.
    invoke(&d, s3_event(key, &etag, "01")).await;
    assert_eq!(job_of(&d, key).status, JobStatus::Scheduled);

    invoke(&d, control(&job.job_id, "stop")).await;
    assert!(d.schedules.names().is_empty(), "its schedule is deleted");
    drain(&d).await;
    let s = summary_of(&d, &job.job_id);
    assert_eq!(s.status, "stopped");
    assert_eq!(s.stopped.unwrap().users_not_sent, Some(n as u64));
    assert_eq!(sends(&d), 0);
}

#[tokio::test]
async fn a_schedule_that_fires_starts_the_job() {
    let n = 50;
    let d = deps(n, 20, None);
    // Two seconds ahead: the link waits for the rest, as it would for a
    // schedule that fired a little early.
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let key = "batches/soon.jsonl";
    let etag = start(&d, key, with_header(json!({"send_at": at.to_rfc3339()}), n));
    invoke(&d, s3_event(key, &etag, "01")).await;
    let fired = d.schedules.take();
    assert_eq!(fired.len(), 1);
    invoke(&d, serde_json::from_slice(&fired[0].payload).unwrap()).await;
    drain(&d).await;
    let s = summary_of(&d, &job_of(&d, key).job_id);
    assert_eq!((s.status.as_str(), s.counters.entries), ("done", n as u64));
    assert!(chrono::DateTime::parse_from_rfc3339(&s.started_at).is_ok());
    assert!(chrono::Utc::now() >= at, "nothing started before send_at");
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let d = deps(10, 20, None);
    let unknown = invoke(&d, control("no-such-job", "stop")).await;
    assert_eq!(unknown["refused"]["reason"], "there is no job no-such-job");

    for (name, extra, needle) in [
        ("past", json!({"send_at": "2020-01-01T00:00:00Z"}), "`send_at` 2020-01-01T00:00:00Z is in the past"),
        ("malformed", json!({"send_at": "tomorrow at nine"}), "`send_at` must be an RFC 3339 time"),
        ("percent", json!({"canary": {"percent": 150, "max_failure_rate": 0.1}}), "`canary.percent` must be"),
        ("rate", json!({"rate_per_second": -5}), "`rate_per_second` must be a number above 0"),
    ] {
        let key = format!("batches/bad-{name}.jsonl");
        let etag = start(&d, &key, with_header(extra, 10));
        invoke(&d, s3_event(&key, &etag, "01")).await;
        let s = summary_of(&d, &job_of(&d, &key).job_id);
        assert_eq!(s.status, "failed", "{name}");
        assert!(s.reason.as_deref().unwrap().contains(needle), "{name}: {:?}", s.reason);
    }
    assert_eq!(sends(&d), 0);

    let key = "batches/fine.jsonl";
    let etag = start(&d, key, jsonl_file(10));
    invoke(&d, s3_event(key, &etag, "01")).await;
    drain(&d).await;
    let job = job_of(&d, key).job_id;
    let done = invoke(&d, control(&job, "stop")).await;
    assert!(done["refused"]["reason"].as_str().unwrap().contains("is already done"), "{done}");
    let negative =
        invoke(&d, json!({"control": {"job_id": job, "action": "throttle", "by": "x", "rate_per_second": -1}})).await;
    assert!(negative["refused"]["reason"].as_str().unwrap().contains("`rate_per_second` must be"), "{negative}");
    assert!(d.jobs.controls.lock().unwrap().is_empty(), "no refusal wrote a control");
}

#[tokio::test]
async fn a_throttled_link_that_runs_out_of_time_hands_on_without_sending_the_batch() {
    let n = 100;
    let d = deps(n, 20, Some(1.5));
    let key = "batches/throttled.jsonl";
    // 10 users a second against 20-user batches and a 1.5 s link: the first
    // batch fits the bucket's burst, the second must wait past the budget.
    let etag = start(&d, key, with_header(json!({"rate_per_second": 10}), n));
    let answer = invoke(&d, s3_event(key, &etag, "01")).await;
    assert!(answer.to_string().contains("handed off"), "{answer}");
    let record = job_of(&d, key);
    assert_eq!(record.counters.entries, 20, "only what the rate let through");
    assert_eq!(sends(&d) as u64, record.counters.total_devices().delivered);
}

#[tokio::test]
async fn the_watchdog_sees_a_chain_whose_link_died_and_leaves_paused_jobs_alone() {
    let n = 200;
    let d = deps(n, 20, Some(0.0));
    let key = "batches/dying.jsonl";
    let etag = start(&d, key, jsonl_file(n));
    invoke(&d, s3_event(key, &etag, "01")).await;
    // The continuation is lost and the link is never retried: the record
    // stays where the first link left it.
    d.invoker.take();
    let job = job_of(&d, key);
    let now = job.updated_at_ms + 10 * 60 * 1000;
    let reading = send_batch::watchdog::look(&d, now).await.unwrap();
    assert_eq!(reading.running_chains, 1);
    assert_eq!(reading.stuck.len(), 1, "{reading:?}");
    assert_eq!(reading.stuck[0].job_id, job.job_id);
    assert_eq!(reading.oldest, Some(std::time::Duration::from_secs(600)));
    let fresh = send_batch::watchdog::look(&d, job.updated_at_ms + 100).await.unwrap();
    assert!(fresh.stuck.is_empty(), "a checkpoint 100 ms old is alive");

    invoke(&d, control(&job.job_id, "pause")).await;
    let paused = send_batch::watchdog::look(&d, now).await.unwrap();
    assert_eq!((paused.running_chains, paused.stuck.len()), (0, 0), "a paused job waits on purpose");
}
