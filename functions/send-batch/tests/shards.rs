//! send-batch in-process: sharded jobs over in-memory ports.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use serde_json::Value;
use shared::jobs::shard_id;
use shared::jobs::{JobRecord, JobStatus};
use shared::shards::ShardPolicy;

const USERS: usize = 2000;

/// Four shards for any file: a chain is credited with 100 users in the
/// target time.
fn four_shards() -> ShardPolicy {
    ShardPolicy {
        min_bytes: 0,
        max_shards: 4,
        target: Duration::from_secs(1),
        chain_users_per_second: 100.0,
        quota_users_per_second: None,
    }
}

fn sharded(n: usize) -> TestDeps {
    let mut d = deps(n, 50, Some(0.0));
    d.settings.shards = four_shards();
    d
}

fn record(d: &TestDeps, id: &str) -> JobRecord {
    d.jobs.records.lock().unwrap().get(id).cloned().expect(id)
}

fn parent(d: &TestDeps) -> JobRecord {
    d.jobs.records.lock().unwrap().values().find(|r| r.shards.is_some()).cloned().expect("a sharded job")
}

fn failed_lines(d: &TestDeps, report: Option<&str>) -> BTreeSet<String> {
    let Some(key) = report else { return BTreeSet::new() };
    let body = String::from_utf8(d.objects.get(BUCKET, key).unwrap().to_vec()).unwrap();
    body.lines().skip(1).map(str::to_owned).collect()
}

fn continuation_job(payload: &[u8]) -> String {
    let v: Value = serde_json::from_slice(payload).unwrap();
    v["continue"]["job_id"].as_str().unwrap().to_owned()
}

fn start(d: &TestDeps, key: &str, body: String) -> (String, Value) {
    let etag = d.objects.insert(BUCKET, key, body);
    (etag.clone(), s3_event(key, &etag, "01"))
}

#[tokio::test]
async fn sharded_and_single_chain_jobs_deliver_the_same_devices_exactly_once() {
    let single = deps(USERS, 50, Some(0.0));
    let (_, event) = start(&single, "batches/same.jsonl", jsonl_file(USERS));
    invoke(&single, event).await;
    drain(&single).await;

    let fanned = sharded(USERS);
    let (_, event) = start(&fanned, "batches/same.jsonl", jsonl_file(USERS));
    let out = invoke(&fanned, event).await;
    assert!(out.to_string().contains("fanned out to 4 shards"), "{out}");
    // The queue holds every shard's links: draining it interleaves them.
    drain(&fanned).await;

    let (a, b) = (summary(&single), summary(&fanned));
    assert_eq!((a.status.as_str(), b.status.as_str()), ("done", "done"));
    b.counters.check_identities().unwrap();
    let (mut ca, mut cb) = (a.counters.clone(), b.counters.clone());
    ca.batches = 0;
    cb.batches = 0;
    assert_eq!(ca, cb, "the roll-up adds up to what one chain counts");
    let (da, db) = (single.push.delivered.lock().unwrap().clone(), fanned.push.delivered.lock().unwrap().clone());
    assert_eq!(da, db, "the same devices");
    assert!(db.values().all(|&n| n == 1), "each once");
    assert_eq!(
        failed_lines(&single, a.failed_report.as_deref()),
        failed_lines(&fanned, b.failed_report.as_deref()),
        "failed.jsonl holds the same entries"
    );
    assert!(b.invocations > 4, "every shard's links are counted: {}", b.invocations);
    assert_eq!((a.shards, b.shards), (None, Some(4)));

    let job = parent(&fanned);
    let set = job.shards.as_ref().unwrap();
    assert_eq!(set.count(), 4);
    let mut entries = 0;
    for i in 0..4 {
        let shard = record(&fanned, &shard_id(&job.job_id, i));
        assert_eq!(shard.status, JobStatus::Done);
        assert_eq!(shard.offset, set.bounds[i as usize + 1], "shard {i} read exactly its range");
        assert!(shard.counters.entries > 0);
        entries += shard.counters.entries;
    }
    assert_eq!(entries, USERS as u64);
}

#[tokio::test]
async fn a_dying_shard_is_resumed_and_the_job_waits_for_it() {
    let mut d = sharded(USERS);
    let (_, event) = start(&d, "batches/dying.jsonl", jsonl_file(USERS));
    invoke(&d, event).await;
    let job = parent(&d).job_id;
    let victim = shard_id(&job, 2);
    let mut starts = d.invoker.take();
    let at = starts.iter().position(|(_, p)| continuation_job(p) == victim).unwrap();
    let (_, dying_link) = starts.remove(at);
    // Shard 2 takes its first link and dies before its first checkpoint.
    {
        let mut jobs = d.jobs.records.lock().unwrap();
        let r = jobs.get_mut(&victim).unwrap();
        r.owner = Some("crashed".into());
        r.lease_until_ms = shared::clock::now_ms() + 150;
        r.invocations += 1;
        r.version += 1;
    }
    for (_, payload) in starts {
        invoke(&d, serde_json::from_slice(&payload).unwrap()).await;
    }
    drain(&d).await;
    let waiting = parent(&d);
    assert_eq!(waiting.status, JobStatus::Running, "the job cannot finish without shard 2");
    assert_eq!(waiting.shards.as_ref().unwrap().finished.len(), 3);
    assert!(d.objects.get(BUCKET, &format!("reports/{job}/summary.json")).is_none());

    // Lambda's retry of the dead link waits out its lease and takes over.
    d.settings.max_run = Some(Duration::from_secs(5));
    invoke(&d, serde_json::from_slice(&dying_link).unwrap()).await;
    drain(&d).await;
    let s = summary(&d);
    assert_eq!(s.status, "done");
    assert_eq!(s.counters.entries, USERS as u64);
    s.counters.check_identities().unwrap();
    assert!(d.push.delivered.lock().unwrap().values().all(|&n| n == 1));
}

#[tokio::test]
async fn a_repeated_upload_event_starts_only_shards_that_never_started() {
    let d = sharded(USERS);
    let (_, event) = start(&d, "batches/lost.jsonl", jsonl_file(USERS));
    invoke(&d, event.clone()).await;
    // Every start was lost but one, which ran a link.
    let mut starts = d.invoker.take();
    let (_, kept) = starts.remove(0);
    invoke(&d, serde_json::from_slice(&kept).unwrap()).await;
    let after_one = d.invoker.take();
    assert_eq!(after_one.len(), 1, "the running shard handed on");

    invoke(&d, event.clone()).await;
    let restarted: BTreeSet<String> = d.invoker.take().iter().map(|(_, p)| continuation_job(p)).collect();
    let lost: BTreeSet<String> = starts.iter().map(|(_, p)| continuation_job(p)).collect();
    assert_eq!(restarted, lost, "only the shards that never started");

    for (_, payload) in after_one {
        invoke(&d, serde_json::from_slice(&payload).unwrap()).await;
    }
    for id in &restarted {
        let r = record(&d, id);
        let next = serde_json::json!({"continue": {
            "job_id": r.job_id, "bucket": r.bucket, "key": r.key, "etag": r.etag, "offset": r.offset, "seq": r.seq}});
        invoke(&d, next).await;
    }
    drain(&d).await;
    invoke(&d, event).await;
    assert!(d.invoker.take().is_empty(), "a finished job starts nothing");
    let s = summary(&d);
    assert_eq!((s.status.as_str(), s.counters.entries), ("done", USERS as u64));
    assert!(d.push.delivered.lock().unwrap().values().all(|&n| n == 1));
}

#[tokio::test]
async fn a_malformed_line_fails_a_big_file_before_it_is_cut_or_sent() {
    let d = sharded(USERS);
    let mut body = jsonl_file(USERS);
    // Break a line three quarters in: shard 2 or 3 meets it.
    let at = body.len() * 3 / 4;
    let line_start = body[..at].rfind('\n').unwrap() + 1;
    body.insert_str(line_start, "{broken");
    let line = body[..line_start].matches('\n').count() + 1;
    let (_, event) = start(&d, "batches/broken.jsonl", body);
    invoke(&d, event).await;
    drain(&d).await;
    let s = summary(&d);
    assert_eq!(s.status, "failed");
    let reason = s.reason.unwrap();
    let at: usize = reason.split("at byte ").nth(1).and_then(|r| r.split(' ').next()).unwrap().parse().unwrap();
    assert!((line_start..line_start + "{broken".len()).contains(&at), "{reason} (the line starts at {line_start})");
    assert!(reason.contains(&format!("(line {line})")), "read from the start, the line is known: {reason}");
    assert!(reason.contains("nothing was sent"), "{reason}");
    let records = d.jobs.records.lock().unwrap();
    assert_eq!(records.len(), 1, "a broken file is never cut: no shard was started");
    assert!(records.values().all(|r| r.shards.is_none()));
    drop(records);
    assert_eq!(s.counters.entries, 0);
    assert!(d.push.delivered.lock().unwrap().is_empty());
}

#[tokio::test]
async fn json_files_and_small_files_are_not_cut() {
    for (key, body, policy) in [
        ("batches/a.json", json_file(300), four_shards()),
        ("batches/a.jsonl", jsonl_file(300), ShardPolicy { min_bytes: 1 << 20, ..four_shards() }),
    ] {
        let mut d = deps(300, 50, Some(0.0));
        d.settings.shards = policy;
        let (_, event) = start(&d, key, body);
        invoke(&d, event).await;
        drain(&d).await;
        assert_eq!(d.jobs.records.lock().unwrap().len(), 1, "{key}: one chain");
        assert_eq!(summary(&d).status, "done");
    }
}
