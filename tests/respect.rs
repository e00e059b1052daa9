//! Respecting people's time (issue 17) on the local stack: preferences
//! written through the devices API (the gateway's SigV4 backend routes),
//! the calendar a clock file that the functions and the event plane's
//! Scheduler both read, so a test moves time instant by instant instead of
//! waiting. Local 09:00 in three zones, quiet hours in both modes, a cap of
//! one across two jobs at once, languages with their fallbacks, and
//! `pushbatch why` for every reason. One
//! stack for all (CI's time), each scenario on users of its own.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Duration as Span, Utc};
use pushbatch::why::{Finding, describe};
use pushbatch_tests::clock::{ClockFile, instant, plane_idle, scheduler_has_seen};
use pushbatch_tests::desk::Desk;
use pushbatch_tests::gateway::backend_put;
use pushbatch_tests::inline::{Inline, delivered};
use pushbatch_tests::reliability::Bench;
use pushbatch_tests::{StackOptions, eventually};
use serde_json::{Value, json};
use shared::jobs::{JobRecord, JobStatus, part_id};
use shared::report::Summary;

const WAIT: Duration = Duration::from_secs(300);

fn options(clock: &ClockFile) -> StackOptions {
    let mut opts = StackOptions::default()
        .fn_env("PUSHBATCH_CLOCK_FILE", clock.path().display())
        .fn_env("CAP_PER_DAY", 1)
        .fn_env("MAX_RUN_SECONDS", 5);
    opts.sandbox_args = vec!["--track-tokens".into()];
    // Two jobs at once, and the devices API beside them.
    opts.watch_args = vec!["--concurrency=3".into()];
    opts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn respecting_peoples_time_on_the_local_stack() -> anyhow::Result<()> {
    let clock = ClockFile::at(instant("2026-12-01T06:00:00Z"))?;
    let desk = Desk::new(Bench::bare(options(&clock)).await?);
    let (d, c) = (&desk, &clock);
    desk.bench
        .explain(async {
            timed("09:00 in three zones", nine_in_three_zones(d, c)).await?;
            timed("quiet hours", quiet_hours(d, c)).await?;
            timed("a cap across two jobs", caps(d, c)).await?;
            timed("languages", languages(d, c)).await?;
            timed("why", why(d, c)).await
        })
        .await
}

async fn timed(name: &str, scenario: impl Future<Output = anyhow::Result<String>>) -> anyhow::Result<()> {
    let started = Instant::now();
    let found = scenario.await.map_err(|e| e.context(format!("scenario: {name}")))?;
    println!("RESPECT {name}: {found} ({:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

/// Sets a person's preferences and registers their device, as their
/// backend would through the devices API.
async fn person(d: &Desk, people: &Inline, i: u64, preferences: Value, device: bool) -> anyhow::Result<()> {
    let user = people.user(i);
    let stack = &d.bench.stack;
    let (status, answer) = backend_put(stack, &format!("/backend/users/{user}/preferences"), &preferences).await?;
    anyhow::ensure!(status == 200, "preferences of {user}: {status} {answer}");
    if device {
        let (platform, token) = people.device(i);
        let body = json!({"platform": platform, "token": token});
        let (status, answer) = backend_put(stack, &format!("/backend/users/{user}/devices"), &body).await?;
        anyhow::ensure!(status == 201, "device of {user}: {status} {answer}");
    }
    Ok(())
}

/// The users (by index) the sandbox delivered to, failing on any with more
/// than one push.
async fn pushed(d: &Desk, people: &Inline, users: std::ops::Range<u64>) -> anyhow::Result<BTreeSet<u64>> {
    let pushes = people.pushes(&d.bench.deliveries().await?, users);
    let twice: Vec<_> = pushes.iter().filter(|(_, n)| **n > 1).collect();
    anyhow::ensure!(twice.is_empty(), "more than one push: {twice:?}");
    Ok(pushes.into_iter().filter(|(_, n)| *n == 1).map(|(i, _)| i).collect())
}

/// The job once its own pass over the file is over and its parts wait.
async fn waiting_for_parts(d: &Desk, job: &str) -> anyhow::Result<JobRecord> {
    let record = d.at_rest(job).await?;
    let main_done = record.parts.as_ref().is_some_and(|p| p.main_done);
    anyhow::ensure!(record.status == JobStatus::Running && main_done, "not waiting for parts: {record:?}");
    Ok(record)
}

/// Moves the clock to a second before `at`, shows the Scheduler fired
/// nothing new, then to `at`, and waits for the part there to finish.
async fn run_part(d: &Desk, clock: &ClockFile, job: &str, at: DateTime<Utc>) -> anyhow::Result<()> {
    let before = d.bench.deliveries().await?;
    clock.set(at - Span::seconds(1))?;
    scheduler_has_seen(&d.bench.stack, at - Span::seconds(1)).await?;
    anyhow::ensure!(d.bench.deliveries().await? == before, "a push before {at}");
    let part = part_id(job, at.timestamp_millis());
    let waiting = d.bench.record(&part).await?.map(|r| r.status);
    anyhow::ensure!(waiting == Some(JobStatus::Scheduled), "the part at {at} is {waiting:?}");
    clock.set(at)?;
    eventually(&format!("the part at {at} to end"), WAIT, || async {
        Ok(d.bench.record(&part).await?.filter(|r| r.status.is_terminal()).map(drop))
    })
    .await?;
    plane_idle(&d.bench.stack).await
}

async fn finished(d: &Desk, job: &str) -> anyhow::Result<Summary> {
    let (_, s) = d.bench.finished_within(job, WAIT).await?;
    s.counters.check_identities().map_err(|b| anyhow::anyhow!("identities of {job}: {b:?}"))?;
    Ok(s)
}

async fn nine_in_three_zones(d: &Desk, clock: &ClockFile) -> anyhow::Result<String> {
    d.fresh().await?;
    clock.set(instant("2026-12-01T06:00:00Z"))?;
    let people = Inline::new("zone");
    // Two people a zone; 6 and 7 set none and get the file's São Paulo.
    let zones = ["Europe/Paris", "America/New_York", "Asia/Tokyo"];
    for i in 0..8 {
        let zone = zones.get(i as usize / 2).map_or(json!({}), |z| json!({"time_zone": z}));
        person(d, &people, i, zone, true).await?;
    }
    let header = json!({"deliver_at_local": "09:00", "default_time_zone": "America/Sao_Paulo"});
    let job = d.upload("batches/nine.jsonl", people.file(header, (0..8).map(|i| json!(people.user(i))))).await?;
    let record = waiting_for_parts(d, &job.job_id).await?;
    anyhow::ensure!(pushed(d, &people, 0..8).await?.is_empty(), "a push at 06:00 UTC");
    // Each one's next 09:00 from 06:00 UTC: Paris, São Paulo, New York, Tokyo's tomorrow.
    let due = [
        ("2026-12-01T08:00:00Z", [0, 1]),
        ("2026-12-01T12:00:00Z", [6, 7]),
        ("2026-12-01T14:00:00Z", [2, 3]),
        ("2026-12-02T00:00:00Z", [4, 5]),
    ];
    let instants: Vec<i64> = due.iter().map(|(at, _)| instant(at).timestamp_millis()).collect();
    let parts = record.parts.as_ref().map(|p| p.due.clone()).unwrap_or_default();
    anyhow::ensure!(parts == instants, "parts at {parts:?}, not {instants:?}");
    let mut expected = BTreeSet::new();
    for (at, users) in due {
        run_part(d, clock, &job.job_id, instant(at)).await?;
        expected.extend(users);
        let got = pushed(d, &people, 0..8).await?;
        anyhow::ensure!(got == expected, "at {at}: pushed {got:?}, expected {expected:?}");
    }
    let s = finished(d, &job.job_id).await?;
    let c = &s.counters;
    anyhow::ensure!(s.status == "done" && (c.entries, c.targeted_users, c.deferred) == (8, 8, 0), "{s:?}");
    Ok("four instants, each person at their own 09:00, nobody a second early".into())
}

async fn quiet_hours(d: &Desk, clock: &ClockFile) -> anyhow::Result<String> {
    d.fresh().await?;
    // 23:30 in Paris; 0, 1, 3 and 4 are quiet from 22:00 to 07:00.
    clock.set(instant("2026-12-02T22:30:00Z"))?;
    let people = Inline::new("quiet");
    for i in 0..6 {
        let quiet = json!({"time_zone": "Europe/Paris", "quiet_hours": {"start": "22:00", "end": "07:00"}});
        let awake = json!({"time_zone": "Europe/Paris"});
        person(d, &people, i, if i % 3 == 2 { awake } else { quiet }, true).await?;
    }
    let ids = |r: std::ops::Range<u64>| r.map(|i| json!(people.user(i))).collect::<Vec<_>>();
    let defer = d.upload("batches/quiet-defer.jsonl", people.file(json!({}), ids(0..3))).await?.job_id;
    let record = waiting_for_parts(d, &defer).await?;
    let end = instant("2026-12-03T06:00:00Z"); // 07:00 in Paris
    let parts = record.parts.as_ref().map(|p| p.due.clone()).unwrap_or_default();
    anyhow::ensure!(parts == vec![end.timestamp_millis()], "parts at {parts:?}");
    anyhow::ensure!(pushed(d, &people, 0..6).await? == BTreeSet::from([2]), "not only the awake one now");

    let skip = people.file(json!({"quiet_hours": "skip"}), ids(3..6));
    let skip = d.upload("batches/quiet-skip.jsonl", skip).await?.job_id;
    let s = finished(d, &skip).await?;
    let c = &s.counters;
    anyhow::ensure!(s.status == "done" && (c.quiet_hours, c.targeted_users, c.deferred) == (2, 1, 0), "{s:?}");
    let report = s.skipped_report.as_deref().ok_or_else(|| anyhow::anyhow!("no skipped.jsonl"))?;
    let mut skipped: Vec<Value> =
        String::from_utf8(d.bench.read(report).await?)?.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    skipped.sort_by_key(|v| v["user_id"].as_str().map(str::to_owned));
    let expected: Vec<Value> = [3, 4].map(|i| json!({"user_id": people.user(i), "reason": "quiet_hours"})).into();
    anyhow::ensure!(skipped == expected, "skipped.jsonl: {skipped:?}");
    anyhow::ensure!(pushed(d, &people, 0..6).await? == BTreeSet::from([2, 5]), "a quiet one was pushed");

    run_part(d, clock, &defer, end).await?;
    anyhow::ensure!(pushed(d, &people, 0..6).await? == BTreeSet::from([0, 1, 2, 5]), "deferred not sent at 07:00");
    let s = finished(d, &defer).await?;
    anyhow::ensure!(s.status == "done" && s.counters.targeted_users == 3, "{s:?}");
    Ok("deferred to 07:00 Paris and sent then; skipped and listed as quiet_hours".into())
}

async fn caps(d: &Desk, clock: &ClockFile) -> anyhow::Result<String> {
    const USERS: u64 = 10_000;
    d.fresh().await?;
    clock.set(instant("2026-12-03T12:00:00Z"))?;
    let people = Inline::new("cap");
    // The same users, the second file backwards and half a batch off: the
    // jobs meet in the middle, inside each other's batches, and race there
    // for the same users (in one order, the later job would only trail).
    let forwards = people.jsonl(json!({}), 0..USERS);
    let backwards = (0..USERS).rev().cycle().skip(250).take(USERS as usize);
    let backwards = people.file(json!({}), backwards.map(|i| people.entry(i)));
    let (a, b) = ("batches/cap-a.jsonl", "batches/cap-b.jsonl");
    let (etag_a, etag_b) = tokio::try_join!(d.bench.put(a, forwards), d.bench.put(b, backwards))?;
    let (job_a, job_b) = tokio::try_join!(d.bench.job_of(a, &etag_a), d.bench.job_of(b, &etag_b))?;
    let (sa, sb) = tokio::try_join!(finished(d, &job_a.job_id), finished(d, &job_b.job_id))?;
    plane_idle(&d.bench.stack).await?;
    let pushes = people.pushes(&d.bench.deliveries().await?, 0..USERS);
    let wrong: Vec<_> = pushes.iter().filter(|(_, n)| **n != 1).take(5).collect();
    anyhow::ensure!(wrong.is_empty(), "users without exactly one push: {wrong:?}");
    let (ca, cb) = (&sa.counters, &sb.counters);
    anyhow::ensure!(ca.capped + cb.capped == USERS && ca.targeted_users + cb.targeted_users == USERS, "{ca:?} {cb:?}");
    anyhow::ensure!(delivered(&d.bench.stack).await? == USERS, "the sandbox's total is not one a user");
    // They ran at once: each started before the other finished.
    anyhow::ensure!(sa.started_at < sb.finished_at && sb.started_at < sa.finished_at, "{sa:?} {sb:?}");
    Ok(format!("{USERS} users, one push each: {} + {} sent, the rest capped", ca.targeted_users, cb.targeted_users))
}

/// Each user gets their locale's texts, else its language's, else the
/// file's own; read back from what the sandbox's APNs delivered.
async fn languages(d: &Desk, clock: &ClockFile) -> anyhow::Result<String> {
    d.fresh().await?;
    clock.set(instant("2026-12-03T15:00:00Z"))?;
    let people = Inline::new("lang");
    // Even users are on iOS, whose payloads the sandbox keeps.
    let locales = [(0, Some("pt-BR")), (2, Some("pt-PT")), (4, Some("fr-CA")), (6, Some("de")), (8, None)];
    for (i, locale) in locales {
        let preferences = locale.map_or(json!({}), |l| json!({"locale": l}));
        person(d, &people, i, preferences, true).await?;
    }
    let header = json!({"notification": {"title": "Hello", "body": "Default",
        "localized": {"pt": {"title": "Olá", "body": "Português"}, "pt-BR": {"title": "Oi"}, "fr": {"title": "Bonjour"}}}});
    let job =
        d.upload("batches/languages.jsonl", people.file(header, locales.map(|(i, _)| json!(people.user(i))))).await?;
    let s = finished(d, &job.job_id).await?;
    anyhow::ensure!(s.status == "done" && s.counters.targeted_users == 5, "{s:?}");
    let expected =
        [("Oi", "Português"), ("Olá", "Português"), ("Bonjour", "Default"), ("Hello", "Default"), ("Hello", "Default")];
    for ((i, locale), (title, body)) in locales.into_iter().zip(expected) {
        let payload = d.bench.stack.sandbox_payload(&people.token(i)).await?;
        let alert = &payload["aps"]["alert"];
        anyhow::ensure!(
            (alert["title"].as_str(), alert["body"].as_str()) == (Some(title), Some(body)),
            "{locale:?} got {alert}, not {title:?}/{body:?}"
        );
    }
    Ok("pt-BR, pt-PT → pt, fr-CA → fr, de and none → the default, text by text".into())
}

async fn why(d: &Desk, clock: &ClockFile) -> anyhow::Result<String> {
    d.fresh().await?;
    clock.set(instant("2026-12-04T09:00:00Z"))?;
    let people = Inline::new("why");
    let reasons = ["sent", "failed", "later", "quiet_hours", "capped", "opted_out", "category_muted", "no_devices"];
    person(d, &people, 2, json!({"time_zone": "Asia/Tokyo"}), true).await?;
    person(d, &people, 3, json!({"quiet_hours": {"start": "08:00", "end": "10:00"}}), true).await?;
    person(d, &people, 4, json!({}), true).await?;
    person(d, &people, 5, json!({"push_enabled": false}), true).await?;
    person(d, &people, 6, json!({"muted_categories": ["news"]}), true).await?;
    // 4 had today's one push from another job.
    let first = d.upload("batches/why-first.jsonl", people.file(json!({}), [json!(people.user(4))])).await?;
    anyhow::ensure!(finished(d, &first.job_id).await?.counters.targeted_users == 1);

    // 1's token is one the sandbox says belongs to another app; 8's entry
    // names a platform there is none of.
    let failing = format!("badbad{}", &people.token(0)[6..]);
    let mut entries =
        vec![people.entry(0), json!({"user_id": people.user(1), "devices": [{"platform": "ios", "token": failing}]})];
    entries.extend((2..8).map(|i| json!(people.user(i))));
    entries.push(json!({"user_id": people.user(8), "devices": [{"platform": "windows", "token": "x"}]}));
    let header = json!({"category": "news", "deliver_at_local": "09:00", "quiet_hours": "skip"});
    let job = d.upload("batches/why.jsonl", people.file(header, entries)).await?.job_id;
    waiting_for_parts(d, &job).await?;

    let env = d.bench.stack.env().iter().collect();
    let later = instant("2026-12-05T00:00:00Z"); // 09:00 in Tokyo
    let mut said = Vec::new();
    for (i, reason) in reasons.iter().chain(&["invalid", "not in the file"]).enumerate() {
        let user = if *reason == "not in the file" { people.user(99) } else { people.user(i as u64) };
        let (_, findings) = pushbatch::why::lookup(&env, &job, &user).await?;
        let text = describe(&user, &job, &findings);
        let right = match (*reason, findings.as_slice()) {
            ("sent", [Finding::Sent { .. }]) => true,
            ("failed", [Finding::DevicesFailed { devices, .. }]) => devices[0].error.contains("DeviceTokenNotForTopic"),
            ("later", [Finding::Deferred { at_ms, part_finished: false }]) => *at_ms == later.timestamp_millis(),
            ("invalid", [Finding::Invalid { detail, .. }]) => detail == "unknown_platform",
            ("not in the file", []) => text.contains("is not in job"),
            (reason, [Finding::Skipped { reason: r, part: None }]) => r == reason,
            _ => false,
        };
        anyhow::ensure!(right, "why {user} ({reason}): {findings:?}");
        said.push(text.trim().to_owned());
    }

    run_part(d, clock, &job, later).await?;
    let (_, findings) = pushbatch::why::lookup(&env, &job, &people.user(2)).await?;
    anyhow::ensure!(matches!(findings[..], [Finding::Deferred { part_finished: true, .. }]), "{findings:?}");
    anyhow::ensure!(pushed(d, &people, 0..9).await? == BTreeSet::from([0, 2, 4]), "pushed the wrong people");
    let s = finished(d, &job).await?;
    anyhow::ensure!(s.status == "done", "{s:?}");
    Ok(said.join(" | "))
}
