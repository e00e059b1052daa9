//! send-batch in-process: the whole chain over in-memory ports.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use shared::jobs::JobStatus;

#[tokio::test]
async fn a_chain_delivers_every_live_device_exactly_once() {
    let n = 1000;
    let d = deps(n, 50, Some(0.0));
    let key = "batches/run.json";
    let etag = d.objects.insert(BUCKET, key, json_file(n));
    invoke(&d, s3_event(key, &etag, "01")).await;
    let links = drain(&d).await;
    assert!(links >= 3, "expected a chain, got {links} continuations");

    let s = summary(&d);
    assert_eq!(s.status, "done");
    let c = &s.counters;
    c.check_identities().unwrap();
    assert_eq!(c.entries, n as u64);
    assert_eq!(c.no_devices, (0..n).filter(|i| i % 17 == 5).count() as u64);
    assert_eq!(c.opted_out, (0..n).filter(|i| i % 17 != 5 && i % 13 == 2).count() as u64);
    let delivered = d.push.delivered.lock().unwrap();
    assert!(delivered.values().all(|&c| c == 1), "a device got two pushes");
    let total = c.total_devices();
    assert_eq!(total.delivered, delivered.len() as u64);
    assert!(total.pruned > 0 && total.failed > 0 && total.retries > 0);

    // Dead tokens are gone from the table; failed.jsonl re-drives the failures.
    let users = d.devices.users.lock().unwrap();
    for (id, user) in users.iter() {
        let i: usize = id[2..].parse().unwrap();
        let targeted = i % 13 != 2;
        let has_dead = user.devices.iter().any(|dev| dev.token.starts_with("dead"));
        assert_eq!(has_dead, !targeted && i % 10 == 3, "{id}: dead tokens of targeted users are pruned, others kept");
    }
    let failed =
        String::from_utf8(d.objects.get(BUCKET, s.failed_report.as_deref().unwrap()).unwrap().to_vec()).unwrap();
    let lines: Vec<&str> = failed.lines().collect();
    assert_eq!(lines.len() as u64 - 1, total.failed, "one failed device per user here");
    assert!(lines[1..].iter().all(|l| l.contains("bad0")));
    let head: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(head["campaign"], "test");
}

#[tokio::test]
async fn json_and_jsonl_give_the_same_results() {
    let mut results = Vec::new();
    for (key, body) in [("batches/a.json", json_file(300)), ("batches/a.jsonl", jsonl_file(300))] {
        let d = deps(300, 40, Some(0.0));
        let etag = d.objects.insert(BUCKET, key, body);
        invoke(&d, s3_event(key, &etag, "01")).await;
        drain(&d).await;
        let s = summary(&d);
        results.push((s.counters.clone(), d.push.delivered.lock().unwrap().clone()));
    }
    let (mut a, mut b) = (results[0].clone(), results[1].clone());
    a.0.batches = 0;
    b.0.batches = 0;
    assert_eq!(a, b);
}

#[tokio::test]
async fn duplicate_and_stale_deliveries_send_nothing_twice() {
    let d = deps(200, 20, Some(0.0));
    let key = "batches/dup.jsonl";
    let etag = d.objects.insert(BUCKET, key, jsonl_file(200));
    let event = s3_event(key, &etag, "07");
    invoke(&d, event.clone()).await;
    let first = d.invoker.take();
    assert_eq!(first.len(), 1);
    // The same continuation twice: only one may run.
    let payload: Value = serde_json::from_slice(&first[0].1).unwrap();
    invoke(&d, payload.clone()).await;
    invoke(&d, payload.clone()).await;
    // The S3 event again, mid-job: the job exists and has moved on.
    invoke(&d, event.clone()).await;
    drain(&d).await;
    // And once more after the end, with an old continuation.
    invoke(&d, payload).await;
    invoke(&d, event).await;
    assert!(d.invoker.take().is_empty());
    let s = summary(&d);
    assert_eq!(s.status, "done");
    assert!(d.push.delivered.lock().unwrap().values().all(|&c| c == 1));
    s.counters.check_identities().unwrap();
    assert_eq!(s.counters.entries, 200);
}

#[tokio::test]
async fn a_crashed_link_is_resumed_from_its_checkpoint() {
    let mut d = deps(100, 10, Some(0.0));
    let key = "batches/crash.json";
    let etag = d.objects.insert(BUCKET, key, json_file(100));
    invoke(&d, s3_event(key, &etag, "01")).await;
    let next = d.invoker.take().pop().unwrap().1;
    // Simulate a crash: the link claims, then dies before sending anything.
    {
        let mut jobs = d.jobs.records.lock().unwrap();
        let r = jobs.values_mut().next().unwrap();
        r.owner = Some("crashed".into());
        r.lease_until_ms = shared::clock::now_ms() + 150;
        r.version += 1;
    }
    // Lambda's retry of the same continuation (a fresh invocation, with a
    // fresh budget) waits out the lease and takes over.
    d.settings.max_run = Some(Duration::from_secs(2));
    let out = invoke(&d, serde_json::from_slice(&next).unwrap()).await;
    assert!(out.to_string().contains("\"done\""), "{out}");
    drain(&d).await;
    let s = summary(&d);
    assert_eq!(s.status, "done");
    assert_eq!(s.counters.entries, 100);
    assert!(d.push.delivered.lock().unwrap().values().all(|&c| c == 1));
}

#[tokio::test]
async fn overwriting_the_file_mid_job_aborts_it() {
    let d = deps(100, 10, Some(0.0));
    let key = "batches/over.json";
    let etag = d.objects.insert(BUCKET, key, json_file(100));
    invoke(&d, s3_event(key, &etag, "01")).await;
    d.objects.insert(BUCKET, key, json_file(50));
    drain(&d).await;
    let jobs = d.jobs.records.lock().unwrap();
    let first = jobs.values().find(|r| r.etag == etag).unwrap();
    assert_eq!(first.status, JobStatus::Aborted);
    assert!(first.reason.as_deref().unwrap().contains("changed"), "{:?}", first.reason);
    assert_eq!(first.counters.entries, 10, "exactly the first batch was sent");
}

#[tokio::test]
async fn malformed_json_fails_the_job_before_anything_is_sent() {
    let d = deps(100, 8, None);
    let mut body = jsonl_file(30);
    let bad_at = body.len() + 1;
    body.push_str("\n{\"user_id\": \"u-99\", oops}\n\"u-1\"");
    let key = "batches/broken.jsonl";
    let etag = d.objects.insert(BUCKET, key, body);
    invoke(&d, s3_event(key, &etag, "01")).await;
    drain(&d).await;
    let s = summary(&d);
    assert_eq!(s.status, "failed");
    let reason = s.reason.unwrap();
    assert!(reason.contains("line 32"), "{reason}");
    assert!(reason.contains(&format!("byte {}", bad_at + 20)), "{reason} (entry at {bad_at})");
    assert!(reason.contains("nothing was sent"), "{reason}");
    assert_eq!(s.counters.entries, 0, "the pre-flight check read the whole file first");
    assert!(d.push.delivered.lock().unwrap().is_empty());
    s.counters.check_identities().unwrap();
}

#[tokio::test]
async fn a_notification_too_big_fails_at_once() {
    let d = deps(10, 8, None);
    let body = json!({"campaign": "c", "notification": {"body": "x".repeat(5000)}, "users": ["u-1"]}).to_string();
    let key = "batches/big.json";
    let etag = d.objects.insert(BUCKET, key, body);
    invoke(&d, s3_event(key, &etag, "01")).await;
    let s = summary(&d);
    assert_eq!(s.status, "failed");
    assert!(s.reason.unwrap().contains("limit is 4096"));
    assert!(d.push.delivered.lock().unwrap().is_empty());
}
