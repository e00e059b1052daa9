//! Respecting people's time, in-process: local-time delivery in deferred
//! parts, quiet hours in both modes, frequency caps across jobs, and
//! `skipped.jsonl` naming why each user was not sent. The users' calendar is
//! a clock file the tests move (`PUSHBATCH_CLOCK_FILE` in the functions).

mod common;

use std::collections::HashSet;
use std::path::PathBuf;

use common::*;
use serde_json::{Value, json};
use shared::batch::{Device, Platform};
use shared::clock::CalendarClock;
use shared::devices::{MemoryDevices, QuietHours, UserDevices};
use shared::jobs::{JobRecord, JobStatus};
use shared::report::Summary;

struct Clock {
    _dir: tempfile::TempDir,
    file: PathBuf,
}

impl Clock {
    fn at(text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clock");
        std::fs::write(&file, text).unwrap();
        Clock { _dir: dir, file }
    }

    fn set(&self, text: &str) {
        std::fs::write(&self.file, text).unwrap();
    }

    fn ms(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis()
    }
}

fn user(i: usize, zone: Option<&str>, quiet: Option<(&str, &str)>) -> (String, UserDevices) {
    (
        format!("u-{i}"),
        UserDevices {
            devices: vec![Device::new(Platform::Ios, ios_token(i, ""))],
            push_enabled: true,
            muted_categories: HashSet::new(),
            time_zone: zone.map(|z| z.parse().unwrap()),
            quiet_hours: quiet.map(|(s, e)| QuietHours::parse(s, e).unwrap()),
            ..UserDevices::default()
        },
    )
}

fn deps_at(clock: &Clock, users: Vec<(String, UserDevices)>) -> TestDeps {
    let mut d = deps(0, 50, None);
    d.devices = MemoryDevices::with(users);
    d.settings.calendar = CalendarClock::File(clock.file.clone());
    d
}

fn file(extra: Value, users: &[&str]) -> String {
    let mut h = header();
    for (k, v) in extra.as_object().unwrap() {
        h[k] = v.clone();
    }
    let mut out = h.to_string();
    for u in users {
        out.push('\n');
        out.push_str(&json!(u).to_string());
    }
    out
}

async fn upload(d: &TestDeps, key: &str, body: String) -> JobRecord {
    let etag = d.objects.insert(BUCKET, key, body);
    invoke(d, s3_event(key, &etag, key)).await;
    drain(d).await;
    d.jobs.records.lock().unwrap().values().find(|r| r.key == key).cloned().expect("the job")
}

fn summary_of(d: &TestDeps, job: &str) -> Summary {
    serde_json::from_slice(&d.objects.get(BUCKET, &format!("reports/{job}/summary.json")).expect("a summary")).unwrap()
}

fn delivered(d: &TestDeps) -> HashSet<String> {
    d.push.delivered.lock().unwrap().keys().cloned().collect()
}

#[tokio::test]
async fn users_in_three_time_zones_get_the_push_at_their_own_nine() {
    let clock = Clock::at("2026-12-01T06:00:00Z");
    let d = deps_at(
        &clock,
        vec![
            user(0, Some("Europe/Paris"), None),
            user(1, Some("America/New_York"), None),
            user(2, Some("Asia/Tokyo"), None),
            user(3, None, None),
        ],
    );
    let job =
        upload(&d, "batches/nine.jsonl", file(json!({"deliver_at_local": "09:00"}), &["u-0", "u-1", "u-2", "u-3"]))
            .await;
    assert_eq!(job.status, JobStatus::Running, "waiting for its parts");
    assert!(delivered(&d).is_empty(), "nobody's 09:00 has come");
    let mut due: Vec<_> = d.schedules.take();
    due.sort_by_key(|s| s.at_ms);
    let instants: Vec<i64> = due.iter().map(|s| s.at_ms).collect();
    assert_eq!(
        instants,
        ["2026-12-01T08:00:00Z", "2026-12-01T09:00:00Z", "2026-12-01T14:00:00Z", "2026-12-02T00:00:00Z"].map(Clock::ms),
        "Paris, UTC (no zone), New York, Tokyo tomorrow"
    );
    let expected = [0, 3, 1, 2];
    for (schedule, user) in due.iter().zip(expected) {
        let at = chrono::DateTime::from_timestamp_millis(schedule.at_ms).unwrap().to_rfc3339();
        clock.set(&at);
        invoke(&d, serde_json::from_slice(&schedule.payload).unwrap()).await;
        drain(&d).await;
        assert!(delivered(&d).contains(&ios_token(user, "")), "u-{user} at {at}");
        assert_eq!(delivered(&d).len(), expected.iter().position(|u| *u == user).unwrap() + 1, "nobody early");
    }
    let s = summary_of(&d, &job.job_id);
    assert_eq!(s.status, "done");
    let c = &s.counters;
    assert_eq!((c.entries, c.targeted_users, c.deferred), (4, 4, 0));
    c.check_identities().unwrap();
    assert!(d.push.delivered.lock().unwrap().values().all(|&n| n == 1));
}

#[tokio::test]
async fn quiet_hours_defer_to_their_end_or_skip() {
    // 23:30 in Paris, inside 22:00–07:00.
    let clock = Clock::at("2026-12-01T22:30:00Z");
    let users = vec![user(0, Some("Europe/Paris"), Some(("22:00", "07:00"))), user(1, Some("Europe/Paris"), None)];
    let d = deps_at(&clock, users.clone());
    let job = upload(&d, "batches/late.jsonl", file(json!({}), &["u-0", "u-1"])).await;
    assert_eq!(delivered(&d), HashSet::from([ios_token(1, "")]), "only the user outside quiet hours, now");
    let due = d.schedules.take();
    assert_eq!(due.iter().map(|s| s.at_ms).collect::<Vec<_>>(), vec![Clock::ms("2026-12-02T06:00:00Z")], "07:00 Paris");
    clock.set("2026-12-02T06:00:05Z");
    invoke(&d, serde_json::from_slice(&due[0].payload).unwrap()).await;
    drain(&d).await;
    assert!(delivered(&d).contains(&ios_token(0, "")));
    assert_eq!(summary_of(&d, &job.job_id).status, "done");

    let night = Clock::at("2026-12-01T22:30:00Z");
    let skip = deps_at(&night, users);
    let job = upload(&skip, "batches/skip.jsonl", file(json!({"quiet_hours": "skip"}), &["u-0", "u-1"])).await;
    let s = summary_of(&skip, &job.job_id);
    assert_eq!((s.status.as_str(), s.counters.quiet_hours, s.counters.targeted_users), ("done", 1, 1));
    assert!(skip.schedules.take().is_empty(), "skipped, not deferred");
    let skipped =
        String::from_utf8(skip.objects.get(BUCKET, s.skipped_report.as_deref().unwrap()).unwrap().to_vec()).unwrap();
    assert_eq!(skipped.trim(), r#"{"reason":"quiet_hours","user_id":"u-0"}"#);
}

#[tokio::test]
async fn a_cap_of_one_gives_every_user_one_push_across_two_jobs_at_once() {
    let clock = Clock::at("2026-12-01T12:00:00Z");
    let n = 300;
    let mut d = deps_at(&clock, (0..n).map(|i| user(i, Some("Europe/Paris"), None)).collect());
    d.settings.cap_per_day = Some(1);
    d.settings.batch_size = 20;
    d.settings.max_run = Some(std::time::Duration::ZERO);
    let ids: Vec<String> = (0..n).map(|i| format!("u-{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    // Both uploads start, then their links interleave one at a time.
    for key in ["batches/a.jsonl", "batches/b.jsonl"] {
        let etag = d.objects.insert(BUCKET, key, file(json!({}), &refs));
        invoke(&d, s3_event(key, &etag, key)).await;
    }
    drain(&d).await;
    let pushes: Vec<u32> = d.push.delivered.lock().unwrap().values().copied().collect();
    assert_eq!(pushes.len(), n, "every user got a push");
    assert!(pushes.iter().all(|&p| p == 1), "and only one");
    let records: Vec<JobRecord> = d.jobs.records.lock().unwrap().values().cloned().collect();
    let capped: u64 = records.iter().map(|r| summary_of(&d, &r.job_id).counters.capped).sum();
    assert_eq!(capped, n as u64, "the other job counted each as capped");
}

#[tokio::test]
async fn skipped_jsonl_says_why_for_every_reason() {
    let clock = Clock::at("2026-12-01T12:00:00Z");
    let mut users =
        vec![user(0, None, None), user(1, None, None), user(2, None, None), user(3, None, Some(("11:00", "13:00")))];
    users[0].1.push_enabled = false;
    users[1].1.muted_categories.insert("news".into());
    users[2].1.devices.clear();
    users.push(user(4, None, None));
    let mut d = deps_at(&clock, users);
    d.settings.category_caps.insert("news".into(), 1);
    upload(&d, "batches/first.jsonl", file(json!({}), &["u-4"])).await;
    let job =
        upload(&d, "batches/why.jsonl", file(json!({"quiet_hours": "skip"}), &["u-0", "u-1", "u-2", "u-3", "u-4", ""]))
            .await;
    let s = summary_of(&d, &job.job_id);
    let text =
        String::from_utf8(d.objects.get(BUCKET, s.skipped_report.as_deref().unwrap()).unwrap().to_vec()).unwrap();
    let mut reasons: Vec<(Option<String>, String)> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| (v["user_id"].as_str().map(str::to_owned), v["reason"].as_str().unwrap().to_owned()))
        .collect();
    // Invalid lines are reported as the batch is read, before its users are sorted.
    reasons.sort();
    let expect = |u: &str, r: &str| (Some(u.to_owned()), r.to_owned());
    assert_eq!(
        reasons,
        vec![
            (None, "invalid".to_owned()),
            expect("u-0", "opted_out"),
            expect("u-1", "category_muted"),
            expect("u-2", "no_devices"),
            expect("u-3", "quiet_hours"),
            expect("u-4", "capped"),
        ]
    );
    s.counters.check_identities().unwrap();
}

#[tokio::test]
async fn bad_time_fields_fail_before_anything_is_sent() {
    let clock = Clock::at("2026-12-01T12:00:00Z");
    let d = deps_at(&clock, vec![user(0, None, None)]);
    for (name, extra, needle) in [
        (
            "zone",
            json!({"default_time_zone": "Mars/Olympus"}),
            "`default_time_zone` \"Mars/Olympus\" is not an IANA time zone",
        ),
        ("both", json!({"deliver_at_local": "09:00", "send_at": "2026-12-02T09:00:00Z"}), "cannot be used together"),
        ("cap", json!({"category_cap_per_day": 0}), "`category_cap_per_day` must be at least 1"),
        ("time", json!({"deliver_at_local": "9am"}), "`deliver_at_local` must be HH:MM"),
    ] {
        let job = upload(&d, &format!("batches/bad-{name}.jsonl"), file(extra, &["u-0"])).await;
        let s = summary_of(&d, &job.job_id);
        assert_eq!(s.status, "failed", "{name}");
        assert!(s.reason.as_deref().unwrap().contains(needle), "{name}: {:?}", s.reason);
    }
    assert!(delivered(&d).is_empty());
}

#[tokio::test]
async fn a_batch_sent_again_after_a_crash_is_not_capped_by_its_own_first_attempt() {
    use shared::caps::{DayCount, mark};
    let clock = Clock::at("2026-12-01T12:00:00Z");
    let mut d = deps_at(&clock, (0..3).map(|i| user(i, None, None)).collect());
    d.settings.cap_per_day = Some(1);
    let key = "batches/again.jsonl";
    let body = file(json!({}), &["u-0", "u-1", "u-2"]);
    let etag = d.objects.insert(BUCKET, key, body.clone());
    let job = shared::chain::job_id(BUCKET, key, &etag, key);
    // The crashed attempt took u-0's and u-1's caps for their entries; u-2
    // had a push from another job today.
    let offset_of = |line: usize| body.split_inclusive('\n').take(line).map(str::len).sum::<usize>() as u64;
    {
        let mut counts = d.caps.counts.lock().unwrap();
        for (i, mark) in [(0, mark(&job, offset_of(1))), (1, mark(&job, offset_of(2))), (2, mark("other-job", 0))] {
            let day = DayCount { total: 1, marks: HashSet::from([mark]), ..DayCount::default() };
            counts.insert((format!("u-{i}"), "2026-12-01".into()), day);
        }
    }
    invoke(&d, s3_event(key, &etag, key)).await;
    drain(&d).await;
    assert_eq!(delivered(&d), HashSet::from([ios_token(0, ""), ios_token(1, "")]), "the first attempt's users, again");
    let s = summary_of(&d, &job);
    assert_eq!((s.counters.targeted_users, s.counters.capped), (2, 1));
    assert!(d.caps.counts.lock().unwrap().values().all(|c| c.total == 1), "nothing counted twice");
}

#[tokio::test]
async fn a_crash_during_a_deferred_hour_loses_nobody_and_exceeds_no_cap() {
    let clock = Clock::at("2026-12-01T06:00:00Z");
    let n = 40;
    let mut d = deps_at(&clock, (0..n).map(|i| user(i, Some("Europe/Paris"), None)).collect());
    d.settings.cap_per_day = Some(1);
    d.settings.batch_size = 10;
    // Two batches open at once: the crash below comes with the window full.
    d.settings.pipeline_batches = 2;
    let ids: Vec<String> = (0..n).map(|i| format!("u-{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let job = upload(&d, "batches/crash-part.jsonl", file(json!({"deliver_at_local": "09:00"}), &refs)).await;
    let due = d.schedules.take();
    assert_eq!(due.len(), 1, "everyone at 09:00 Paris");
    clock.set("2026-12-01T08:00:00Z");
    let payload: Value = serde_json::from_slice(&due[0].payload).unwrap();
    // Killed with its window open: caps taken, some of its pushes sent,
    // the checkpoint behind them.
    crash_after(&d, payload.clone(), 15).await;
    {
        let mut jobs = d.jobs.records.lock().unwrap();
        let part = jobs.values_mut().find(|r| r.part.is_some()).expect("the part's record");
        assert!(part.owner.is_some(), "the crashed link still holds the part");
        part.lease_until_ms = shared::clock::now_ms();
    }
    // Lambda retries the same event.
    invoke(&d, payload).await;
    drain(&d).await;
    let s = summary_of(&d, &job.job_id);
    assert_eq!(s.status, "done");
    let c = &s.counters;
    assert_eq!((c.entries, c.targeted_users, c.capped, c.deferred), (n as u64, n as u64, 0, 0), "nobody lost");
    c.check_identities().unwrap();
    let pushes = d.push.delivered.lock().unwrap().clone();
    assert_eq!(pushes.len(), n, "every user had the push");
    assert!(pushes.values().filter(|&&p| p > 1).count() <= 2 * 10, "a second push only in the window in flight");
    let counts = d.caps.counts.lock().unwrap();
    assert!(counts.values().all(|c| c.total == 1), "no cap exceeded: one counted push each");
}
