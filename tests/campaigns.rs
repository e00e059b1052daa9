//! Scheduled campaigns on the local stack, end to end, for all three
//! campaigns: a seeded population whose selection is known beforehand (the
//! seeder is deterministic) goes through scheduled → segments/ → ab-split →
//! batches/ → send-batch → push-sandbox. The counts per variant match, the
//! sandbox's deliveries match, the control group receives nothing, and
//! re-running a campaign's day sends nothing more.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::NaiveDate;
use pushbatch::seed::{ProfileOptions, SeedOptions, user_profile, user_record, write_profiles, write_users};
use pushbatch_tests::{Stack, StackOptions, eventually};
use serde_json::Value;
use shared::campaigns::{ALL, Audience, CONTROL, Campaign, CampaignRun, DynamoRuns, RunList};
use shared::jobs::{DynamoJobs, JobRecord};

const USERS: u64 = 6_000;
const WAIT: Duration = Duration::from_secs(300);

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 24).unwrap()
}

fn seed_options() -> SeedOptions {
    SeedOptions { users: USERS, dead_fraction: 0.05, seed: 7, ..SeedOptions::default() }
}

/// Whom a campaign selects on `today()`, straight from the generator.
fn expected_selection(campaign: &Campaign) -> Vec<u64> {
    let opts = seed_options();
    let profiles = ProfileOptions::new(today());
    let target = campaign.audience.target_day(today()).unwrap();
    (0..USERS)
        .filter(|&i| {
            let p = user_profile(i, &opts, &profiles);
            match campaign.audience {
                Audience::SignedUp { completed, .. } => {
                    p.signup_day == target && completed.is_none_or(|c| c == p.signup_completed)
                }
                Audience::LastActive { .. } => p.last_active_day == target,
            }
        })
        .collect()
}

struct Harness {
    stack: Stack,
    runs: DynamoRuns,
    jobs: DynamoJobs,
}

impl Harness {
    async fn run_scheduled(&self, campaign: &str) -> anyhow::Result<Value> {
        pushbatch::campaign::run_day(&env_map(self), "scheduled", campaign, today()).await
    }

    async fn split_run(&self, campaign: &str) -> anyhow::Result<CampaignRun> {
        eventually(&format!("ab-split of {campaign}"), WAIT, || async {
            let runs = self.runs.list(campaign, Some(&today().to_string())).await?;
            Ok(runs.into_iter().find(|r| r.split.is_some()))
        })
        .await
    }

    async fn finished_job(&self, object: &str) -> anyhow::Result<JobRecord> {
        eventually(&format!("the job of {object}"), WAIT, || async {
            let jobs = self.jobs.find_by_object_id(object).await?;
            anyhow::ensure!(jobs.len() <= 1, "{object} has {} jobs", jobs.len());
            Ok(jobs.into_iter().find(|j| j.status.is_terminal()))
        })
        .await
    }

    async fn deliveries(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        let stats = self.stack.sandbox_stats().await?;
        Ok(serde_json::from_value(stats["deliveries"].clone()).unwrap_or_default())
    }

    /// ab-split on the S3 event of a segment it has split already, as a
    /// duplicate delivery would run it; its answer.
    async fn split_again(&self, key: &str, etag: &str) -> anyhow::Result<Value> {
        let event = serde_json::json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-24T10:00:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "local"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "duplicate",
                   "bucket": {"name": self.stack.bucket(), "ownerIdentity": {"principalId": "local"},
                              "arn": format!("arn:aws:s3:::{}", self.stack.bucket())},
                   "object": {"key": key, "eTag": etag, "sequencer": "0"}}}]});
        let out = (self.stack.lambda().await?)
            .invoke()
            .function_name("ab-split")
            .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
            .send()
            .await?;
        let answer: Value = serde_json::from_slice(out.payload().map(|b| b.as_ref()).unwrap_or(b"null"))?;
        anyhow::ensure!(out.function_error().is_none(), "ab-split failed on a duplicate event: {answer}");
        Ok(answer)
    }

    /// Until nothing is queued or running in the event plane.
    async fn settle(&self) -> anyhow::Result<()> {
        eventually("the event plane to go idle", WAIT, || async {
            let stats = self.stack.plane_stats().await?;
            Ok((stats["queued"] == 0 && stats["in_flight"] == 0).then_some(()))
        })
        .await
    }
}

async fn start() -> anyhow::Result<Harness> {
    let opts = StackOptions { sandbox_args: vec!["--track-tokens".into()], ..StackOptions::default() };
    let stack = Stack::start(opts).await?;
    let dynamodb = stack.dynamodb().await;
    let hidden = indicatif::ProgressBar::hidden();
    write_users(&dynamodb, stack.var("DEVICES_TABLE")?, &seed_options(), 16, &hidden).await?;
    write_profiles(&dynamodb, stack.var("USERS_TABLE")?, &seed_options(), &ProfileOptions::new(today()), 16, &hidden)
        .await?;
    Ok(Harness {
        runs: DynamoRuns::new(dynamodb.clone(), stack.var("CAMPAIGN_RUNS_TABLE")?),
        jobs: DynamoJobs::new(dynamodb, stack.var("JOBS_TABLE")?),
        stack,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_campaigns_end_to_end() -> anyhow::Result<()> {
    let h = start().await?;
    let opts = seed_options();
    let mut live_expected: BTreeSet<String> = BTreeSet::new();
    let mut control_tokens: BTreeSet<String> = BTreeSet::new();
    let mut controls = 0;

    for campaign in ALL {
        let selected = expected_selection(campaign);
        assert!(!selected.is_empty(), "{}: the population must select someone", campaign.id);
        let report = h.run_scheduled(campaign.id).await?;
        assert_eq!(report["outcome"], "written", "{report}");
        assert_eq!(report["users"], selected.len() as u64, "{}: selected users", campaign.id);

        let mut assigned: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for &i in &selected {
            let id = pushbatch::seed::user_id(i, &opts.prefix);
            assigned.entry(campaign.assign(&id).name().to_owned()).or_default().push(i);
        }
        let run = h.split_run(campaign.id).await?;
        let split = run.split.expect("split");
        let counts: BTreeMap<String, u64> =
            split.assigned.iter().filter(|(_, n)| **n > 0).map(|(k, v)| (k.clone(), *v)).collect();
        let expected_counts: BTreeMap<String, u64> =
            assigned.iter().map(|(k, v)| (k.clone(), v.len() as u64)).collect();
        assert_eq!(counts, expected_counts, "{}: users per variant", campaign.id);

        for (variant, users) in &assigned {
            let tokens = users.iter().flat_map(|&i| user_record(i, &opts).devices);
            if variant == CONTROL {
                controls += users.len();
                control_tokens.extend(tokens.map(|d| d.token));
                assert!(!split.batches.contains_key(CONTROL));
                continue;
            }
            let object = &split.batches[variant];
            let job = h.finished_job(object).await?;
            let c = &job.counters;
            c.check_identities().map_err(|b| anyhow::anyhow!("{b:?}"))?;
            let (dead, live): (Vec<_>, Vec<_>) = tokens.partition(|d| d.is_dead());
            assert_eq!(job.layout.as_ref().and_then(|l| l.header.variant.clone()).as_deref(), Some(variant.as_str()));
            assert_eq!((c.entries, c.targeted_users), (users.len() as u64, users.len() as u64), "{object}");
            let devices = c.total_devices();
            assert_eq!(
                (devices.delivered, devices.pruned, devices.failed),
                (live.len() as u64, dead.len() as u64, 0),
                "{object}"
            );
            live_expected.extend(live.into_iter().map(|d| d.token));
        }

        let report = pushbatch::campaign::gather(&env_map(&h), campaign.id, Some(today())).await?;
        let control_row = report.variants.last().expect("rows");
        assert_eq!(control_row.variant, CONTROL);
        assert_eq!(
            (control_row.assigned, control_row.sent, control_row.delivered),
            (expected_counts.get(CONTROL).copied().unwrap_or(0), 0, 0)
        );
        for row in &report.variants[..report.variants.len() - 1] {
            assert_eq!(row.assigned, expected_counts.get(&row.variant).copied().unwrap_or(0), "{}", row.variant);
            assert_eq!((row.sent, row.pending_runs), (row.assigned, 0), "{}", row.variant);
        }
    }
    assert!(controls > 0, "the population must put someone in a control group");

    h.settle().await?;
    let deliveries = h.deliveries().await?;
    for token in &live_expected {
        assert_eq!(deliveries.get(token), Some(&1), "a variant user's live token is delivered exactly once");
    }
    for token in &control_tokens {
        assert_eq!(deliveries.get(token), None, "the control group is never sent");
    }
    assert_eq!(deliveries.values().sum::<u64>(), live_expected.len() as u64, "nothing else was delivered");

    // Idempotency: re-running every campaign's day is a no-op that says so,
    // and sends nothing more.
    for campaign in ALL {
        let again = h.run_scheduled(campaign.id).await?;
        assert_eq!(again["outcome"], "already_ran", "{again}");
    }
    h.settle().await?;
    assert_eq!(h.deliveries().await?, deliveries, "a re-run sent something");

    // A duplicate segment event (S3 delivers at least once; Lambda retries a
    // split that died half-way) replaces nothing: every output is there and
    // kept, with the ETag the first split recorded, and nothing is sent.
    for campaign in ALL {
        let run = h.split_run(campaign.id).await?;
        let (segment, split) = (run.segment_key.expect("the run's segment"), run.split.expect("split"));
        let answer = h.split_again(&segment, &split.segment_etag).await?;
        assert_eq!(answer["splits"][0]["batches"], serde_json::to_value(&split.batches)?, "{answer}");
    }
    h.settle().await?;
    assert_eq!(h.deliveries().await?, deliveries, "a duplicate segment event sent something");
    Ok(())
}

fn env_map(h: &Harness) -> pushbatch::env_file::EnvMap {
    h.stack.env().iter().collect()
}
