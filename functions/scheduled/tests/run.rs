//! scheduled in-process, over in-memory users, runs and bucket.

use chrono::NaiveDate;
use lambda_runtime::{Context, LambdaEvent};
use scheduled::event::ScheduleEvent;
use scheduled::handler::{Deps, Outcome, RunReport, handle};
use shared::campaigns::{MemoryRuns, RunState};
use shared::objects::{MemoryObjects, ObjectRead};
use shared::users::{MemoryUsers, UserRecord};

const BUCKET: &str = "b";

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Users 0..n: sign-up day cycles over four days, every third completed
/// sign-up, every fifth last active on 2026-11-03, every second named.
fn population(n: usize) -> Vec<UserRecord> {
    (0..n)
        .map(|i| UserRecord {
            user_id: format!("u-{i:04}"),
            signup_day: day(["2026-11-21", "2026-11-22", "2026-11-23", "2026-11-24"][i % 4]),
            last_active_day: if i % 5 == 0 { day("2026-11-03") } else { day("2026-11-23") },
            signup_completed: i % 3 == 0,
            name: (i % 2 == 0).then(|| format!("User {i}")),
        })
        .collect()
}

fn deps(n: usize) -> Deps<MemoryUsers, MemoryRuns, MemoryObjects> {
    Deps {
        users: MemoryUsers { users: population(n), page_size: 7 },
        runs: MemoryRuns::default(),
        objects: MemoryObjects::default(),
        bucket: BUCKET.into(),
        lease_ms: 60_000,
    }
}

async fn run(deps: &Deps<MemoryUsers, MemoryRuns, MemoryObjects>, event: serde_json::Value) -> RunReport {
    let payload: ScheduleEvent = serde_json::from_value(event).unwrap();
    handle(deps, LambdaEvent { payload, context: Context::default() }).await.unwrap()
}

fn lines(deps: &Deps<MemoryUsers, MemoryRuns, MemoryObjects>, key: &str) -> Vec<serde_json::Value> {
    let body = deps.objects.get(BUCKET, key).unwrap_or_else(|| panic!("{key} missing"));
    body.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect()
}

#[tokio::test]
async fn day1_selects_yesterdays_unfinished_sign_ups_and_streams_them() {
    let d = deps(200);
    let report = run(&d, serde_json::json!({"campaign": "day1-signup", "time": "2026-11-24T10:00:00Z"})).await;
    let expected: Vec<usize> = (0..200).filter(|i| i % 4 == 2 && i % 3 != 0).collect();
    assert_eq!(report.outcome, Outcome::Written);
    assert_eq!(report.target_day, "2026-11-23");
    assert_eq!(report.users, expected.len() as u64);
    let key = "segments/day1-signup/2026-11-24.jsonl";
    assert_eq!(report.segment.as_deref(), Some(key));
    let got = lines(&d, key);
    let want: Vec<serde_json::Value> = expected
        .iter()
        .map(|i| match i % 2 {
            0 => serde_json::json!({"user_id": format!("u-{i:04}"), "vars": {"name": format!("User {i}")}}),
            _ => serde_json::json!(format!("u-{i:04}")),
        })
        .collect();
    assert_eq!(got, want);
    let record = d.runs.get("day1-signup", "2026-11-24").unwrap();
    assert_eq!((record.state, record.users), (Some(RunState::Segmented), expected.len() as u64));
}

#[tokio::test]
async fn day2_and_day21_use_their_own_index_and_filter() {
    let d = deps(200);
    let day2 = run(&d, serde_json::json!({"campaign": "day2-engagement", "time": "2026-11-24T17:00:00Z"})).await;
    assert_eq!(day2.users, (0..200).filter(|i| i % 4 == 1 && i % 3 == 0).count() as u64);
    let day21 = run(&d, serde_json::json!({"campaign": "day21-inactive", "time": "2026-11-24T18:00:00Z"})).await;
    assert_eq!(day21.target_day, "2026-11-03");
    assert_eq!(day21.users, 40);
}

#[tokio::test]
async fn a_rerun_of_the_same_day_is_a_no_op_that_says_so() {
    let d = deps(100);
    let event = serde_json::json!({"campaign": "day21-inactive", "time": "2026-11-24T18:00:00Z"});
    let first = run(&d, event.clone()).await;
    let key = first.segment.clone().unwrap();
    let etag = d.objects.head(BUCKET, &key).await.unwrap().etag;
    let again = run(&d, event).await;
    assert_eq!(again.outcome, Outcome::AlreadyRan);
    assert_eq!((again.users, again.segment), (first.users, first.segment));
    assert_eq!(d.objects.head(BUCKET, &key).await.unwrap().etag, etag, "the segment was written again");
}

#[tokio::test]
async fn a_run_in_progress_is_left_alone() {
    use shared::campaigns::RunClaim;
    let d = deps(10);
    let now = chrono::Utc::now().timestamp_millis();
    d.runs.claim("day21-inactive", "2026-11-24", "2026-11-03", now, 600_000).await.unwrap();
    let report = run(&d, serde_json::json!({"campaign": "day21-inactive", "date": "2026-11-24"})).await;
    assert_eq!(report.outcome, Outcome::InProgress);
    assert!(d.objects.get(BUCKET, "segments/day21-inactive/2026-11-24.jsonl").is_none());
}

#[tokio::test]
async fn nobody_selected_writes_no_segment() {
    let d = deps(50);
    let report = run(&d, serde_json::json!({"campaign": "day21-inactive", "date": "2027-01-01"})).await;
    assert_eq!((report.outcome, report.users), (Outcome::Empty, 0));
    assert!(d.objects.get(BUCKET, "segments/day21-inactive/2027-01-01.jsonl").is_none());
    assert_eq!(d.runs.get("day21-inactive", "2027-01-01").unwrap().state, Some(RunState::Empty));
}

#[tokio::test]
async fn unknown_campaigns_and_missing_days_are_clear_errors() {
    let d = deps(1);
    for (event, expected) in [
        (serde_json::json!({"campaign": "nope", "date": "2026-11-24"}), "unknown campaign \"nope\""),
        (serde_json::json!({"campaign": "day1-signup"}), "neither `time` nor `date`"),
    ] {
        let payload: ScheduleEvent = serde_json::from_value(event).unwrap();
        let err = handle(&d, LambdaEvent { payload, context: Context::default() }).await.unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
}

#[test]
fn every_scheduled_sample_is_an_input() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("scheduled-") {
            let event: ScheduleEvent = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(event.run_day().is_ok(), "{name}");
            assert!(shared::campaigns::find(&event.campaign).is_some(), "{name}");
            seen += 1;
        }
    }
    assert!(seen >= 2);
}
