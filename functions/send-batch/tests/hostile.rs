//! send-batch in-process on hostile batch files (issue #8, item 5): the whole
//! chain over in-memory ports, one short link per batch so that every job
//! resumes from checkpoints. For each file: nothing panics, a broken file
//! fails the job with the byte offset (and line for JSONL) in its reason, the
//! entries before the problem are sent and accounted for (the identities of
//! Contract 3 hold), and no device is sent to twice.
//!
//! The reader's side of the same files is in shared/tests/hostile_input.rs.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lambda_runtime::{Config, Context, LambdaEvent};
use send_batch::deps::Deps;
use send_batch::handler::handle;
use send_batch::settings::Settings;
use serde_json::{Value, json};
use shared::apps::Route;
use shared::batch::{DEFAULT_MAX_ENTRY_BYTES, Device, Platform};
use shared::devices::{MemoryDevices, UserDevices};
use shared::invoke::RecordingInvoker;
use shared::jobs::MemoryJobs;
use shared::objects::MemoryObjects;
use shared::push::PushSend;
use shared::push::retry::RetryPolicy;
use shared::push::{Outcome, Receipt};
use shared::render::{Headers, MAX_PAYLOAD_BYTES, Payloads};
use shared::report::Summary;

const BUCKET: &str = "bucket";
const USERS: usize = 60;

/// A provider that delivers everything and records every request it got.
#[derive(Default)]
struct RecordingPush {
    sends: Mutex<HashMap<String, u32>>,
    largest_payload: Mutex<usize>,
}

impl PushSend for RecordingPush {
    async fn send(&self, route: &Route, device: &Device, payloads: &Payloads, _: &Headers) -> Outcome {
        let token = device.token.as_str();
        let size = match route {
            Route::Apns { .. } => payloads.apns.len(),
            Route::Fcm { .. } => payloads.fcm_body(token).len(),
            Route::WebPush => payloads.web.len(),
        };
        let mut largest = self.largest_payload.lock().unwrap();
        *largest = (*largest).max(size);
        *self.sends.lock().unwrap().entry(token.to_owned()).or_default() += 1;
        Outcome::Delivered(Receipt::default())
    }
    async fn renew(&self, _: &Route) {}
}

type TestDeps = Deps<
    MemoryObjects,
    MemoryDevices,
    MemoryJobs,
    RecordingPush,
    RecordingInvoker,
    shared::schedules::MemorySchedules,
    shared::quota::MemoryQuotaBuckets,
    shared::caps::MemoryCaps,
>;

fn settings() -> Settings {
    // No time at all: every link hands on after one batch, so each job
    // below is a chain that resumes from its checkpoints.
    let mut s = common::settings(7, Some(0.0));
    s.retry = RetryPolicy { max_attempts: 2, base: Duration::from_millis(1), cap: Duration::from_millis(2) };
    if let Some(fcm) = s.fcm.as_mut() {
        fcm.max_in_flight = 16;
    }
    s
}

fn ios_token(i: usize) -> String {
    format!("{i:064x}")
}

fn android_token(i: usize) -> String {
    format!("android-token-{i:08}-abcdefghijklmnop")
}

/// Users u-0..USERS, each with one iOS device; every 4th also an Android one.
fn deps() -> TestDeps {
    let users = (0..USERS).map(|i| {
        let mut devices = vec![Device::new(Platform::Ios, ios_token(i))];
        if i % 4 == 0 {
            devices.push(Device::new(Platform::Android, android_token(i)));
        }
        (
            format!("u-{i}"),
            UserDevices { devices, push_enabled: true, muted_categories: HashSet::new(), ..UserDevices::default() },
        )
    });
    Deps {
        objects: MemoryObjects::default(),
        devices: MemoryDevices::with(users),
        jobs: MemoryJobs::default(),
        push: RecordingPush::default(),
        invoker: RecordingInvoker::default(),
        schedules: Default::default(),
        rates: Default::default(),
        caps: Default::default(),
        settings: settings(),
    }
}

fn devices_of(users: impl IntoIterator<Item = usize>) -> u64 {
    users.into_iter().map(|i| if i % 4 == 0 { 2 } else { 1 }).sum()
}

fn header() -> Value {
    json!({"campaign": "hostile", "notification": {"title": "Hi", "body": "Hello {{name}}"}})
}

fn entry(i: usize) -> Value {
    if i.is_multiple_of(2) {
        json!(format!("u-{i}"))
    } else {
        json!({"user_id": format!("u-{i}"), "vars": {"name": "N"}})
    }
}

fn jsonl_lines(users: std::ops::Range<usize>) -> String {
    let mut out = header().to_string();
    for i in users {
        out.push('\n');
        out.push_str(&entry(i).to_string());
    }
    out
}

fn json_body(users: std::ops::Range<usize>) -> String {
    let mut h = header();
    h["users"] = Value::Array(users.map(entry).collect());
    h.to_string()
}

fn s3_event(key: &str, etag: &str) -> Value {
    common::s3_event(key, etag, "01")
}

async fn invoke(d: &TestDeps, payload: Value) {
    let mut context = Context::default();
    context.request_id = uuid::Uuid::new_v4().to_string();
    context.env_config = Arc::new(Config { function_name: "send-batch".into(), ..Config::default() });
    handle(d, LambdaEvent { payload, context }).await.expect("the handler does not error on a bad file");
}

/// Uploads `body` as `key`, runs the job's whole chain, returns its summary.
async fn run(d: &TestDeps, key: &str, body: impl Into<bytes::Bytes>) -> Summary {
    let etag = d.objects.insert(BUCKET, key, body);
    invoke(d, s3_event(key, &etag)).await;
    for _ in 0..10_000 {
        let queued = d.invoker.take();
        if queued.is_empty() {
            break;
        }
        for (_, payload) in queued {
            invoke(d, serde_json::from_slice(&payload).unwrap()).await;
        }
    }
    assert!(d.invoker.take().is_empty(), "the chain ended");
    let job_id = d.jobs.records.lock().unwrap().values().find(|r| r.key == key).unwrap().job_id.clone();
    let summary = d.objects.get(BUCKET, &format!("reports/{job_id}/summary.json")).expect("a summary");
    let summary: Summary = serde_json::from_slice(&summary).unwrap();
    summary.counters.check_identities().unwrap_or_else(|broken| panic!("{key}: {broken:?}"));
    summary
}

/// Every device was sent to at most once, and the provider saw exactly the
/// devices the counters say were attempted.
fn assert_sent_once(d: &TestDeps, s: &Summary) {
    let sends = d.push.sends.lock().unwrap();
    assert!(sends.values().all(|&n| n == 1), "a device got two pushes");
    assert_eq!(sends.len() as u64, s.counters.total_devices().attempted - s.counters.total_devices().failed);
    assert!(*d.push.largest_payload.lock().unwrap() <= MAX_PAYLOAD_BYTES);
}

fn reason(s: &Summary) -> &str {
    s.reason.as_deref().unwrap_or_default()
}

// ---------------------------------------------------------------- truncation

#[tokio::test]
async fn a_truncated_jsonl_file_sends_nothing_and_names_the_cut() {
    let d = deps();
    let full = jsonl_lines(0..40);
    let line_22 = full.match_indices('\n').nth(20).unwrap().0 + 1; // user u-20, line 22
    let cut = line_22 + 5;
    let s = run(&d, "batches/cut.jsonl", full[..cut].to_owned()).await;
    assert_eq!(s.status, "failed");
    assert!(reason(&s).contains("(line 22)") && reason(&s).contains("EOF while parsing"), "{}", reason(&s));
    assert!(reason(&s).contains(&format!("byte {}", cut - 1)), "{}", reason(&s));
    assert_nothing_sent(&d, &s);
}

#[tokio::test]
async fn expected_users_catches_a_file_cut_at_a_line_end() {
    let d = deps();
    let mut h = header();
    h["expected_users"] = json!(40);
    let full = jsonl_lines(0..40).replacen(&header().to_string(), &h.to_string(), 1);
    let cut = full.match_indices('\n').nth(20).unwrap().0 + 1;
    let s = run(&d, "batches/cut-expected.jsonl", full[..cut].to_owned()).await;
    assert_eq!(s.status, "failed");
    assert!(reason(&s).contains("`expected_users` is 40 but the file has 20 entries"), "{}", reason(&s));
    assert_nothing_sent(&d, &s);
    let whole = run(&d, "batches/whole-expected.jsonl", full).await;
    assert_eq!((whole.status.as_str(), whole.total_entries), ("done", Some(40)));
}

fn assert_nothing_sent(d: &TestDeps, s: &Summary) {
    assert!(reason(s).contains("nothing was sent"), "{}", reason(s));
    assert_eq!(s.counters.entries, 0, "the pre-flight check read the whole file before the first push");
    assert!(d.push.sends.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_jsonl_file_cut_at_a_line_end_reads_as_a_shorter_file() {
    // Undetectable by design: the summary's entry count is the witness.
    let d = deps();
    let full = jsonl_lines(0..40);
    let cut = full.match_indices('\n').nth(20).unwrap().0 + 1;
    let s = run(&d, "batches/cut-at-line.jsonl", full[..cut].to_owned()).await;
    assert_eq!(s.status, "done");
    assert_eq!(s.counters.entries, 20);
    assert_sent_once(&d, &s);
}

#[tokio::test]
async fn a_truncated_json_file_fails_before_sending_anything() {
    // A .json file is walked whole before its first entry (its header may come
    // last), so a cut is found before anything is sent: nothing before it is
    // lost either, the job sends nothing.
    let d = deps();
    let full = json_body(0..40);
    let cut = full.find("\"u-20\"").unwrap() + 3;
    let s = run(&d, "batches/cut.json", full[..cut].to_owned()).await;
    assert_eq!(s.status, "failed");
    assert!(reason(&s).contains(&format!("byte {cut}")) && reason(&s).contains("truncated"), "{}", reason(&s));
    assert_eq!(s.counters.entries, 0);
    assert!(d.push.sends.lock().unwrap().is_empty());
}

// -------------------------------------------------------------- huge entries

fn with_entry_at(lines: &str, at_line: usize, entry: &str) -> (String, usize) {
    let mut parts: Vec<&str> = lines.split('\n').collect();
    parts.insert(at_line - 1, entry);
    let offset = parts[..at_line - 1].iter().map(|p| p.len() + 1).sum();
    (parts.join("\n"), offset)
}

#[tokio::test]
async fn a_10_mb_entry_fails_only_its_own_devices_when_its_vars_are_used() {
    // 10 MB is under the 16 MiB entry limit, so it is a user. The body uses
    // {{name}}, so this user's payload would be 10 MB: their devices fail
    // (and go to failed.jsonl), nobody else's do, and nothing over 4 KB is sent.
    let d = deps();
    let big = json!({"user_id": "u-5", "vars": {"name": "x".repeat(10_000_000)}}).to_string();
    let (body, _) =
        with_entry_at(&jsonl_lines(0..30).replace("{\"user_id\":\"u-5\",\"vars\":{\"name\":\"N\"}}\n", ""), 7, &big);
    let s = run(&d, "batches/ten-mb.jsonl", body).await;
    assert_eq!(s.status, "done", "{}", reason(&s));
    assert_eq!(s.counters.entries, 30);
    let total = s.counters.total_devices();
    assert_eq!(total.failed, devices_of([5]));
    assert_eq!(total.delivered, devices_of(0..30) - devices_of([5]));
    assert!(!d.push.sends.lock().unwrap().contains_key(&ios_token(5)));
    let failed = d.objects.get(BUCKET, s.failed_report.as_deref().unwrap()).unwrap();
    let failed = String::from_utf8(failed.to_vec()).unwrap();
    assert!(failed.contains("limit is 4096"));
    assert_sent_once(&d, &s);
}

#[tokio::test]
async fn a_10_mb_entry_whose_vars_are_unused_is_sent() {
    let d = deps();
    let big = json!({"user_id": "u-5", "vars": {"unused": "x".repeat(10_000_000)}}).to_string();
    let mut users: Vec<Value> = (0..30).filter(|&i| i != 5).map(entry).collect();
    users.insert(5, serde_json::from_str(&big).unwrap());
    let mut h = header();
    h["users"] = Value::Array(users);
    let s = run(&d, "batches/ten-mb.json", h.to_string()).await;
    assert_eq!(s.status, "done", "{}", reason(&s));
    assert_eq!(s.counters.total_devices().delivered, devices_of(0..30));
    assert_sent_once(&d, &s);
}

#[tokio::test]
async fn an_entry_over_16_mib_fails_the_job_before_anything_is_sent() {
    let d = deps();
    let big = json!({"user_id": "u-99", "vars": {"name": "x".repeat(DEFAULT_MAX_ENTRY_BYTES)}}).to_string();
    let (body, offset) = with_entry_at(&jsonl_lines(0..30), 12, &big);
    let s = run(&d, "batches/huge.jsonl", body).await;
    assert_eq!(s.status, "failed");
    assert!(reason(&s).contains(&format!("entry at byte {offset} (line 12) is larger than")), "{}", reason(&s));
    assert_nothing_sent(&d, &s);
}

// ------------------------------------------------------------------- nesting

#[tokio::test]
async fn deep_nesting_fails_the_job_before_anything_is_sent() {
    let d = deps();
    let deep = format!(r#"{{"user_id":"u-99","vars":{{"a":{}{}}}}}"#, "[".repeat(500), "]".repeat(500));
    let (body, offset) = with_entry_at(&jsonl_lines(0..30), 17, &deep);
    let s = run(&d, "batches/deep.jsonl", body).await;
    assert_eq!(s.status, "failed");
    assert!(reason(&s).contains("(line 17)") && reason(&s).contains("recursion limit"), "{}", reason(&s));
    let at: u64 =
        reason(&s).split("malformed JSON at byte ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(at > offset as u64 && at < (offset + deep.len()) as u64, "{}", reason(&s));
    assert_nothing_sent(&d, &s);
}

// --------------------------------------------------------------- non-UTF-8

#[tokio::test]
async fn non_utf8_bytes_stop_the_job_at_that_byte() {
    let d = deps();
    let mut body = jsonl_lines(0..30).into_bytes();
    let line_9 = body.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(7).unwrap().0 + 1;
    let bad = line_9 + 3; // inside the string "u-7"
    body[bad] = 0xFF;
    let s = run(&d, "batches/latin1.jsonl", body).await;
    assert_eq!(s.status, "failed");
    assert!(reason(&s).contains(&format!("byte {bad} (line 9)")), "{}", reason(&s));
    assert_nothing_sent(&d, &s);
}

// ------------------------------------------------------------ BOM, CRLF, keys

#[tokio::test]
async fn a_bom_and_crlf_line_ends_send_everything() {
    let d = deps();
    let mut crlf = vec![0xEF, 0xBB, 0xBF];
    crlf.extend_from_slice(jsonl_lines(0..30).replace('\n', "\r\n").as_bytes());
    crlf.extend_from_slice(b"\r\n\r\n");
    let s = run(&d, "batches/windows.jsonl", crlf).await;
    assert_eq!(s.status, "done", "{}", reason(&s));
    assert_eq!(s.counters.entries, 30);
    assert_eq!(s.counters.total_devices().delivered, devices_of(0..30));
    assert_sent_once(&d, &s);

    let d = deps();
    let mut json = vec![0xEF, 0xBB, 0xBF];
    json.extend_from_slice(json_body(0..30).as_bytes());
    let s = run(&d, "batches/bom.json", json).await;
    assert_eq!(s.status, "done", "{}", reason(&s));
    assert_eq!(s.counters.total_devices().delivered, devices_of(0..30));
    assert_sent_once(&d, &s);
}

#[tokio::test]
async fn duplicate_keys_take_the_last_value() {
    // The last value wins, in the header and in entries (see
    // shared/tests/hostile_input.rs): u-1's device is sent to, not u-0's.
    let d = deps();
    let body = concat!(
        r#"{"campaign":"first","notification":{"title":"Hi"},"campaign":"second"}"#,
        "\n",
        r#"{"user_id":"u-0","user_id":"u-1"}"#,
        "\n"
    );
    let s = run(&d, "batches/dup.jsonl", body).await;
    assert_eq!(s.status, "done", "{}", reason(&s));
    assert_eq!(s.campaign.as_deref(), Some("second"));
    let sends = d.push.sends.lock().unwrap();
    assert_eq!(sends.keys().cloned().collect::<Vec<_>>(), [ios_token(1)]);
}

// ----------------------------------------------------- notifications > 4 KB

#[tokio::test]
async fn a_notification_over_4_kb_fails_the_job_and_sends_nothing() {
    // Over the limit through `data`, and for APNs only through its override:
    // either way the template is refused before the first batch.
    for (name, notification) in [
        ("data", json!({"title": "Hi", "data": {"blob": "x".repeat(4100)}})),
        ("apns", json!({"title": "Hi", "apns": {"aps": {"category": "x".repeat(4100)}}})),
        ("fcm", json!({"title": "Hi", "fcm": {"android": {"notification": {"tag": "x".repeat(4000)}}}})),
    ] {
        let d = deps();
        let mut body = json!({"campaign": "big", "notification": notification}).to_string();
        for i in 0..30 {
            body.push('\n');
            body.push_str(&entry(i).to_string());
        }
        let s = run(&d, &format!("batches/big-{name}.jsonl"), body).await;
        assert_eq!(s.status, "failed", "{name}");
        assert!(reason(&s).contains("limit is 4096"), "{name}: {}", reason(&s));
        assert_eq!(s.counters.entries, 0, "{name}");
        assert!(d.push.sends.lock().unwrap().is_empty(), "{name}: nothing is sent");
    }
}

#[tokio::test]
async fn vars_over_4_kb_fail_only_that_users_devices() {
    let d = deps();
    let mut body = header().to_string();
    for i in 0..30 {
        body.push('\n');
        let e = if i % 10 == 3 {
            json!({"user_id": format!("u-{i}"), "vars": {"name": "é".repeat(2100)}})
        } else {
            entry(i)
        };
        body.push_str(&e.to_string());
    }
    let s = run(&d, "batches/big-vars.jsonl", body).await;
    assert_eq!(s.status, "done", "{}", reason(&s));
    let over = [3, 13, 23];
    let total = s.counters.total_devices();
    assert_eq!(total.failed, devices_of(over));
    assert_eq!(total.delivered, devices_of(0..30) - devices_of(over));
    let sends = d.push.sends.lock().unwrap();
    assert!(over.iter().all(|&i| !sends.contains_key(&ios_token(i))));
    drop(sends);
    assert_sent_once(&d, &s);
}
