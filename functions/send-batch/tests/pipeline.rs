//! The pipeline inside a link: a slow request holds back only the
//! checkpoint, and a crash resends at most the window in flight
//! (`PIPELINE_BATCHES` batches), never loses a device, and keeps the
//! identities.

mod common;

use std::collections::{HashMap, HashSet};

use common::*;
use send_batch::deps::Deps;
use shared::batch::Device;
use shared::caps::MemoryCaps;
use shared::invoke::RecordingInvoker;
use shared::jobs::MemoryJobs;
use shared::objects::MemoryObjects;
use shared::push::{Outcome, PushSend};
use shared::quota::MemoryQuotaBuckets;
use shared::render::{Headers, Payloads};
use shared::schedules::MemorySchedules;
use tokio::sync::Semaphore;

const BATCH: usize = 10;
const WINDOW: usize = 3;

/// FakePush, except that one token's request waits until the test lets it go.
struct HeldPush {
    inner: FakePush,
    held: String,
    gate: Semaphore,
}

impl PushSend for HeldPush {
    async fn send(&self, route: &shared::apps::Route, device: &Device, p: &Payloads, h: &Headers) -> Outcome {
        if device.token == self.held {
            let _go = self.gate.acquire().await;
        }
        self.inner.send(route, device, p, h).await
    }
    async fn renew(&self, _: &shared::apps::Route) {}
}

fn with_window(mut d: TestDeps) -> TestDeps {
    d.settings.pipeline_batches = WINDOW;
    d
}

/// The user (entry) index a test token belongs to (see `population`).
fn user_of(token: &str) -> usize {
    match token.strip_prefix("android-token-") {
        Some(rest) => rest[..8].parse().unwrap(),
        None => usize::from_str_radix(&token[4..], 16).unwrap(),
    }
}

#[tokio::test]
async fn a_slow_request_holds_back_only_the_checkpoint() {
    let base = deps(100, BATCH, None);
    let mut d = Deps {
        push: HeldPush { inner: FakePush::default(), held: ios_token(0, ""), gate: Semaphore::new(0) },
        objects: MemoryObjects::default(),
        devices: population(100),
        jobs: MemoryJobs::default(),
        invoker: RecordingInvoker::default(),
        schedules: MemorySchedules::default(),
        rates: MemoryQuotaBuckets::default(),
        caps: MemoryCaps::default(),
        settings: base.settings,
    };
    d.settings.pipeline_batches = WINDOW;
    let key = "batches/slow.jsonl";
    let etag = d.objects.insert(BUCKET, key, jsonl_file(100));
    let run = invoke(&d, s3_event(key, &etag, "01"));
    tokio::pin!(run);
    // u-0's request (the first batch's) hangs; the batches after it send
    // until the window is full, and the checkpoint stays where it was.
    let delivered = || d.push.inner.delivered.lock().unwrap().len();
    loop {
        tokio::select! {
            biased;
            _ = &mut run => panic!("the link ended with a request still held"),
            _ = tokio::task::yield_now() => {
                if delivered() >= 2 * BATCH { break; }
            }
        }
    }
    // Let it spin: nothing more may be read while the oldest batch is open.
    for _ in 0..200 {
        tokio::select! {
            biased;
            _ = &mut run => panic!("the link ended with a request still held"),
            _ = tokio::task::yield_now() => {}
        }
    }
    let sent_while_held = d.push.inner.delivered.lock().unwrap().keys().map(|t| user_of(t)).max().unwrap();
    {
        let jobs = d.jobs.records.lock().unwrap();
        let record = jobs.values().next().unwrap();
        assert_eq!(record.counters.entries, 0, "the checkpoint waits for the held request's batch");
    }
    assert!(sent_while_held >= BATCH, "later batches were sent while the first was held");
    assert!(sent_while_held < WINDOW * BATCH, "but none past the window: {sent_while_held}");
    d.push.gate.add_permits(1);
    run.await;
    drain(&d).await;
    let s = summary(&d);
    assert_eq!((s.status.as_str(), s.counters.entries), ("done", 100));
    s.counters.check_identities().unwrap();
    assert!(d.push.inner.delivered.lock().unwrap().values().all(|&c| c == 1));
}

/// The tokens a whole job delivers to, with nothing going wrong.
async fn clean_run(n: usize) -> HashSet<String> {
    let d = with_window(deps(n, BATCH, None));
    run(&d, "batches/clean.jsonl", jsonl_file(n)).await;
    d.push.delivered.lock().unwrap().keys().cloned().collect()
}

#[tokio::test]
async fn a_crash_resends_at_most_the_window_in_flight() {
    let n = 120;
    let expected = clean_run(n).await;
    // Kill points across the job, each with its window in a different state.
    for pushes in [1, 7, 18, 33, 50, 64, expected.len() * 3 / 4] {
        let d = with_window(deps(n, BATCH, None));
        let key = "batches/crash.jsonl";
        let etag = d.objects.insert(BUCKET, key, jsonl_file(n));
        let event = s3_event(key, &etag, "01");
        crash_after(&d, event.clone(), pushes).await;
        let committed = {
            let mut jobs = d.jobs.records.lock().unwrap();
            let record = jobs.values_mut().next().unwrap();
            assert!(record.owner.is_some(), "killed while holding the link");
            // Lambda's retry comes once the dead holder's lease is over.
            record.lease_until_ms = shared::clock::now_ms();
            record.counters.entries as usize
        };
        invoke(&d, event).await;
        drain(&d).await;
        let s = summary(&d);
        assert_eq!((s.status.as_str(), s.counters.entries), ("done", n as u64), "crash after {pushes}");
        s.counters.check_identities().unwrap();
        let delivered: HashMap<String, u32> = d.push.delivered.lock().unwrap().clone();
        let tokens: HashSet<String> = delivered.keys().cloned().collect();
        assert_eq!(tokens, expected, "crash after {pushes}: every live device, nothing else");
        let again: Vec<usize> = delivered.iter().filter(|(_, c)| **c > 1).map(|(t, _)| user_of(t)).collect();
        let window = committed..committed + WINDOW * BATCH;
        assert!(
            again.iter().all(|u| window.contains(u)),
            "crash after {pushes}: resent {again:?}, outside the window {window:?} open at the crash"
        );
        assert!(delivered.values().all(|&c| c <= 2), "one crash, at most one resend");
    }
}

#[tokio::test]
async fn one_batch_at_a_time_is_the_old_serial_loop() {
    let mut d = deps(60, BATCH, None);
    d.settings.pipeline_batches = 1;
    let key = "batches/serial.jsonl";
    let etag = d.objects.insert(BUCKET, key, jsonl_file(60));
    crash_after(&d, s3_event(key, &etag, "01"), 25).await;
    let jobs = d.jobs.records.lock().unwrap();
    let record = jobs.values().next().unwrap();
    let delivered = d.push.delivered.lock().unwrap();
    let furthest = delivered.keys().map(|t| user_of(t)).max().unwrap();
    assert!(furthest < record.counters.entries as usize + BATCH, "one batch open beyond the checkpoint");
}

/// The population's devices, except that the lookup of the batch holding
/// `held` waits until the test lets it go; counts the lookups begun.
struct HeldLookup {
    inner: shared::devices::MemoryDevices,
    held: String,
    gate: Semaphore,
    begun: std::sync::atomic::AtomicUsize,
}

impl shared::devices::DeviceLookup for HeldLookup {
    async fn lookup(
        &self,
        user_ids: &[String],
    ) -> Result<HashMap<String, shared::devices::UserDevices>, shared::devices::DeviceError> {
        self.begun.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if user_ids.contains(&self.held) {
            let _go = self.gate.acquire().await;
        }
        self.inner.lookup(user_ids).await
    }
}

impl shared::devices::DevicePrune for HeldLookup {
    async fn prune(&self, user_id: &str, token: &str) -> Result<bool, shared::devices::DeviceError> {
        self.inner.prune(user_id, token).await
    }
}

#[tokio::test]
async fn the_next_batches_are_read_while_one_waits_for_its_lookup() {
    let base = deps(100, BATCH, None);
    let d = Deps {
        push: FakePush::default(),
        objects: MemoryObjects::default(),
        devices: HeldLookup {
            inner: population(100),
            held: "u-0".into(),
            gate: Semaphore::new(0),
            begun: Default::default(),
        },
        jobs: MemoryJobs::default(),
        invoker: RecordingInvoker::default(),
        schedules: MemorySchedules::default(),
        rates: MemoryQuotaBuckets::default(),
        caps: MemoryCaps::default(),
        settings: with_window(base).settings,
    };
    let key = "batches/lookup.jsonl";
    let etag = d.objects.insert(BUCKET, key, jsonl_file(100));
    let run = invoke(&d, s3_event(key, &etag, "01"));
    tokio::pin!(run);
    let begun = || d.devices.begun.load(std::sync::atomic::Ordering::SeqCst);
    for _ in 0..500 {
        tokio::select! {
            biased;
            _ = &mut run => panic!("the link ended with a lookup still held"),
            _ = tokio::task::yield_now() => {}
        }
    }
    // The first batch's lookup hangs: the batches after it were read and
    // looked up meanwhile, as many as the window holds and no more, and
    // none was sent ahead of the first (batches open in file order).
    assert_eq!(begun(), WINDOW, "lookups begun while the first waits");
    assert!(d.push.delivered.lock().unwrap().is_empty(), "a later batch was sent before the first");
    d.devices.gate.add_permits(1);
    run.await;
    drain(&d).await;
    let s = summary(&d);
    assert_eq!((s.status.as_str(), s.counters.entries), ("done", 100));
    s.counters.check_identities().unwrap();
    assert!(d.push.delivered.lock().unwrap().values().all(|&c| c == 1));
}
