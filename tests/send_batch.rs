//! send-batch on the local stack: S3 → event plane → cargo lambda watch →
//! send-batch → push-sandbox, with a chain of several invocations.

#[path = "send_batch/rarer_paths.rs"]
mod rarer_paths;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_s3::primitives::ByteStream;
use pushbatch::seed::{SeedOptions, SeedUser, user_record, write_users};
use pushbatch_tests::{Stack, StackOptions, eventually};
use serde_json::{Value, json};
use shared::jobs::{DynamoJobs, JobRead, JobRecord, JobsByObject};
use shared::report::Summary;

const USERS: u64 = 20_000;
const CATEGORY: &str = "product-news";
const JOB_WAIT: Duration = Duration::from_secs(600);

fn seed_options() -> SeedOptions {
    SeedOptions {
        users: USERS,
        dead_fraction: 0.05,
        opted_out_fraction: 0.03,
        muted_fraction: 0.0,
        ..SeedOptions::default()
    }
}

fn header(campaign: &str) -> Value {
    json!({"campaign": campaign, "category": CATEGORY,
           "notification": {"title": "Hello", "body": "Hi {{name}}", "data": {"deeplink": "app://x"}}})
}

/// Users `range` of the seeded population; every 1000th carries a name too
/// long for a 4 KB payload, so its devices fail without being sent.
fn entry(i: u64, opts: &SeedOptions) -> Value {
    let id = pushbatch::seed::user_id(i, &opts.prefix);
    match i {
        i if i % 1000 == 999 => json!({"user_id": id, "vars": {"name": "x".repeat(5000)}}),
        i if i % 3 == 0 => json!({"user_id": id, "vars": {"name": format!("user {i}")}}),
        _ => Value::String(id),
    }
}

fn jsonl(campaign: &str, users: std::ops::Range<u64>, opts: &SeedOptions) -> Vec<u8> {
    let mut out = header(campaign).to_string();
    for i in users {
        out.push('\n');
        out.push_str(&entry(i, opts).to_string());
    }
    out.into_bytes()
}

fn json_file(campaign: &str, users: std::ops::Range<u64>, opts: &SeedOptions) -> Vec<u8> {
    let mut h = header(campaign);
    h["users"] = Value::Array(users.map(|i| entry(i, opts)).collect());
    h.to_string().into_bytes()
}

struct Harness {
    stack: Stack,
    jobs: DynamoJobs,
}

impl Harness {
    async fn put(&self, key: &str, body: Vec<u8>) -> anyhow::Result<String> {
        let out = self
            .stack
            .s3()
            .await
            .put_object()
            .bucket(self.stack.bucket())
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await?;
        Ok(shared::objects::unquote(out.e_tag().unwrap_or_default()))
    }

    async fn job_of(&self, key: &str, etag: &str) -> anyhow::Result<JobRecord> {
        eventually(&format!("a job for {key}"), Duration::from_secs(120), || async {
            Ok(self.jobs.find_by_object(self.stack.bucket(), key, etag).await?.pop())
        })
        .await
    }

    async fn finished(&self, key: &str, etag: &str) -> anyhow::Result<(JobRecord, Summary)> {
        let job = self.job_of(key, etag).await?.job_id;
        let record = eventually(&format!("job {job} to end"), JOB_WAIT, || async {
            Ok(self.jobs.get(&job).await?.filter(|r| r.status.is_terminal()))
        })
        .await?;
        let summary = self.read(&format!("reports/{job}/summary.json")).await?;
        Ok((record, serde_json::from_slice(&summary)?))
    }

    async fn read(&self, key: &str) -> anyhow::Result<Vec<u8>> {
        let out = self.stack.s3().await.get_object().bucket(self.stack.bucket()).key(key).send().await?;
        Ok(out.body.collect().await?.into_bytes().to_vec())
    }

    async fn deliveries(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        let stats = self.stack.sandbox_stats().await?;
        Ok(serde_json::from_value(stats["deliveries"].clone()).unwrap_or_default())
    }

    async fn table_tokens(&self) -> anyhow::Result<BTreeSet<String>> {
        let dynamo = self.stack.dynamodb().await;
        let mut tokens = BTreeSet::new();
        let mut pages = dynamo.scan().table_name(self.stack.var("DEVICES_TABLE")?).into_paginator().send();
        while let Some(page) = pages.next().await {
            for item in page?.items() {
                if let Some(list) = item.get("devices").and_then(|d| d.as_l().ok()) {
                    for d in list {
                        if let Some(t) = d.as_m().ok().and_then(|m| m.get("token")).and_then(|t| t.as_s().ok()) {
                            tokens.insert(t.clone());
                        }
                    }
                }
            }
        }
        Ok(tokens)
    }
}

fn targeted(user: &SeedUser, i: u64) -> bool {
    user.push_enabled && !user.muted_categories.iter().any(|c| c == CATEGORY) && i % 1000 != 999
}

const PHONE: &str = "com.example.pushbatch";
const PAD: &str = "com.example.pad";

/// Two apps in one devices table (issue 15): each device is sent as its own
/// app, and a token APNs says belongs to another app fails, named, and is
/// never pruned. APNs (the sandbox) knows which app each token was issued to.
async fn two_apps(h: &Harness) -> anyhow::Result<()> {
    use shared::batch::{Device, Platform};
    use shared::devices::{DeviceRegister, DynamoDevices, Registration};
    let devices = DynamoDevices::new(h.stack.dynamodb().await, h.stack.var("DEVICES_TABLE")?);
    let token = |i: u64| format!("ab{i:062x}");
    let mut issued = serde_json::Map::new();
    let mut body = json!({"campaign": "apps", "notification": {"title": "Hi"}}).to_string();
    // Users 0..20: even on the phone app, odd on the pad app; user 20's
    // token was issued to the phone app but was registered as the pad's.
    for i in 0..=20u64 {
        let (issued_to, registered_as) = match i {
            20 => (PHONE, PAD),
            _ if i % 2 == 0 => (PHONE, PHONE),
            _ => (PAD, PAD),
        };
        issued.insert(token(i), json!(issued_to));
        let registration = Registration {
            device: Device::new(Platform::Ios, token(i)),
            app: Some(registered_as.to_owned()),
            at: chrono::Utc::now(),
        };
        devices.register(&format!("apps-{i}"), &registration, 10).await?;
        body.push_str(&format!("\n\"apps-{i}\""));
    }
    let url = format!("{}/tokens", h.stack.var("SANDBOX_URL")?);
    reqwest::Client::new().post(url).json(&issued).send().await?.error_for_status()?;
    let etag = h.put("batches/apps.jsonl", body.into_bytes()).await?;
    let (_, s) = h.finished("batches/apps.jsonl", &etag).await?;
    let d = s.counters.total_devices();
    assert_eq!((d.delivered, d.pruned, d.failed), (20, 0, 1), "{s:?}");
    let deliveries = h.deliveries().await?;
    assert!((0..20).all(|i| deliveries.get(&token(i)) == Some(&1)), "each live token delivered once as its own app");
    let failed = String::from_utf8(h.read(s.failed_report.as_deref().expect("failed.jsonl")).await?)?;
    assert!(failed.contains("apps-20") && failed.contains("DeviceTokenNotForTopic"), "{failed}");
    let table = h.table_tokens().await?;
    assert!((0..=20).all(|i| table.contains(&token(i))), "no live token of either app was pruned");
    Ok(())
}

async fn start() -> anyhow::Result<Harness> {
    let opts = StackOptions::default()
        .fn_env("MAX_RUN_SECONDS", 2)
        .fn_env("PUSH_MAX_ATTEMPTS", 3)
        .fn_env("PUSH_RETRY_BASE_MS", 5)
        .fn_env("LEASE_SECONDS", 10)
        .fn_env("DELIVERY_RECEIPTS", true)
        // A second iOS app beside the stack's default (com.example.pushbatch).
        .fn_env("APPS", format!(r#"[{{"app": "{PAD}", "platform": "ios"}}]"#));
    let mut opts = opts;
    opts.sandbox_args = ["--track-tokens", "--rate-503", "0.04", "--rate-429", "0.02", "--retry-after-secs", "0"]
        .map(String::from)
        .to_vec();
    let stack = Stack::start(opts).await?;
    let jobs = DynamoJobs::new(stack.dynamodb().await, stack.var("JOBS_TABLE")?);
    let seeded = write_users(
        &stack.dynamodb().await,
        stack.var("DEVICES_TABLE")?,
        &seed_options(),
        16,
        &indicatif::ProgressBar::hidden(),
    )
    .await?;
    assert_eq!(seeded.users, USERS);
    Ok(Harness { stack, jobs })
}

/// The job's cost receipt: what the job used, as DynamoDB and S3 answered
/// through the SDK's meter, and its dollars as bench/cost.py prices the
/// same usage.
fn check_receipt(summary: &Summary) -> anyhow::Result<()> {
    let receipt = summary.cost.as_ref().context("summary.json has a cost receipt")?;
    let u = &receipt.usage;
    assert_eq!(u.invocations, summary.invocations, "one Lambda request per invocation");
    assert!(u.gb_seconds > 0.0, "{u:?}");
    // At least a ranged GET per link and the HEAD; the summary and the
    // reports are PUTs.
    assert!(u.s3_get > summary.invocations && u.s3_put >= 2, "{u:?}");
    // Every user is looked up: half a read unit each (eventually
    // consistent, items under 4 KB), plus the controls' and claims' reads.
    let users = summary.counters.valid_users as f64;
    assert!(u.dynamodb_read_units >= users * 0.5, "{u:?} for {users} users");
    assert!(u.dynamodb_write_units >= (summary.counters.batches) as f64, "a checkpoint a batch: {u:?}");
    assert_eq!(receipt.deliveries, summary.counters.total_devices().delivered);
    let root = pushbatch::context::find_workspace_root(std::path::Path::new(env!("CARGO_MANIFEST_DIR")))
        .context("workspace root")?;
    let python = root.join(".local/venv/bin/python");
    let out = std::process::Command::new(if python.exists() { python } else { "python3".into() })
        .arg(root.join("bench/cost.py"))
        .args(["--price", &serde_json::to_string(u)?, &receipt.deliveries.to_string()])
        .output()?;
    anyhow::ensure!(out.status.success(), "cost.py: {}", String::from_utf8_lossy(&out.stderr));
    let model: Value = serde_json::from_slice(&out.stdout)?;
    let ours = serde_json::to_value(receipt)?;
    for field in
        ["lambda_compute_usd", "lambda_requests_usd", "s3_usd", "dynamodb_usd", "total_usd", "sns_mobile_push_usd"]
    {
        let (a, b) = (ours[field].as_f64().unwrap_or(f64::NAN), model[field].as_f64().unwrap_or(f64::NAN));
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{field}: receipt {a} vs cost.py {b}");
    }
    Ok(())
}

/// `receipts.jsonl` (`DELIVERY_RECEIPTS`): a line for each push the sandbox
/// delivered, carrying the id the sandbox answered it with: an `apns-id`
/// UUID, an FCM message `name` in the project.
async fn check_delivery_receipts(
    h: &Harness,
    summary: &Summary,
    deliveries: &BTreeMap<String, u64>,
) -> anyhow::Result<()> {
    let key = summary.receipts_report.as_deref().context("summary.json names receipts.jsonl")?;
    let text = String::from_utf8(h.read(key).await?)?;
    let mut ids = BTreeSet::new();
    let mut tokens = BTreeSet::new();
    for line in text.lines() {
        let r: Value = serde_json::from_str(line)?;
        let token = r["token"].as_str().context("a token")?;
        anyhow::ensure!(tokens.insert(token.to_owned()), "{token} has two receipts");
        let id = match r["platform"].as_str() {
            Some("ios") => {
                let id = r["apns_id"].as_str().context("an apns_id")?;
                let uuid = id.len() == 36
                    && id
                        .char_indices()
                        .all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() });
                anyhow::ensure!(uuid, "{line}: apns-id is a UUID");
                id
            }
            Some("android") => {
                let name = r["fcm_name"].as_str().context("an fcm_name")?;
                let project = h.stack.var("FCM_PROJECT_ID")?;
                anyhow::ensure!(name.starts_with(&format!("projects/{project}/messages/")), "{line}");
                name
            }
            _ => anyhow::bail!("{line}"),
        };
        anyhow::ensure!(ids.insert(id.to_owned()), "{id} twice");
    }
    let delivered: BTreeSet<String> = deliveries.keys().cloned().collect();
    assert_eq!(tokens, delivered, "a receipt for each device the sandbox delivered to, and no other");
    assert_eq!(tokens.len() as u64, summary.counters.total_devices().delivered);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_batch_on_the_local_stack() -> anyhow::Result<()> {
    let h = start().await?;
    let opts = seed_options();

    // 1. The main run: 20k users, dead tokens, injected faults, a chain.
    let key = "batches/main.jsonl";
    let etag = h.put(key, jsonl("main", 0..USERS, &opts)).await?;
    let (record, summary) = h.finished(key, &etag).await?;
    assert_eq!(summary.status, "done", "{summary:?}");
    assert!(record.invocations >= 3, "the chain had {} invocations", record.invocations);
    let c = &summary.counters;
    c.check_identities().map_err(|b| anyhow::anyhow!("{b:?}"))?;
    assert_eq!(c.entries, USERS);

    let deliveries = h.deliveries().await?;
    let failed_text = String::from_utf8(h.read(summary.failed_report.as_deref().expect("a failed.jsonl")).await?)?;
    let mut failed_tokens = BTreeSet::new();
    for line in failed_text.lines().skip(1) {
        let entry: Value = serde_json::from_str(line)?;
        for d in entry["devices"].as_array().unwrap() {
            failed_tokens.insert(d["token"].as_str().unwrap().to_owned());
        }
    }
    let mut expected_live = BTreeSet::new();
    let mut expected_dead = BTreeSet::new();
    for i in 0..USERS {
        let user = user_record(i, &opts);
        for d in &user.devices {
            if i % 1000 == 999 && user.push_enabled && !user.muted_categories.iter().any(|c| c == CATEGORY) {
                assert!(
                    failed_tokens.contains(&d.token),
                    "oversized payload for {} must be in failed.jsonl",
                    user.user_id
                );
            } else if targeted(&user, i) && d.is_dead() {
                expected_dead.insert(d.token.clone());
            } else if targeted(&user, i) {
                expected_live.insert(d.token.clone());
            }
        }
    }
    for token in &expected_live {
        let n = deliveries.get(token).copied().unwrap_or(0);
        assert!(
            n == 1 || (n == 0 && failed_tokens.contains(token)),
            "live token delivered {n} times and not in failed.jsonl"
        );
    }
    let delivered: u64 = deliveries.values().sum();
    assert_eq!(delivered, c.total_devices().delivered, "sandbox deliveries vs summary");
    assert!(deliveries.keys().all(|t| expected_live.contains(t)), "a push reached a device that should get none");
    assert_eq!(c.total_devices().failed as usize, failed_tokens.len(), "failed.jsonl holds exactly the failures");
    let table = h.table_tokens().await?;
    // A dead token whose every attempt met an injected 503/429 never got its
    // Unregistered answer: it is in failed.jsonl, not pruned.
    assert!(
        expected_dead.iter().filter(|t| !failed_tokens.contains(*t)).all(|t| !table.contains(t)),
        "dead tokens of targeted users are pruned"
    );
    assert!(expected_dead.iter().filter(|t| failed_tokens.contains(*t)).all(|t| table.contains(t)));
    assert!(expected_live.iter().all(|t| table.contains(t)), "live tokens stay");
    check_receipt(&summary)?;
    check_delivery_receipts(&h, &summary, &deliveries).await?;

    // 2. A duplicate continuation, delivered after the fact, does nothing.
    let before = h.deliveries().await?;
    let dup = json!({"continue": {"job_id": record.job_id, "bucket": record.bucket, "key": record.key,
                     "etag": record.etag, "offset": 0, "seq": 1}});
    let out = h
        .stack
        .lambda()
        .await?
        .invoke()
        .function_name("send-batch")
        .payload(aws_sdk_lambda::primitives::Blob::new(dup.to_string()))
        .send()
        .await?;
    let answer: Value = serde_json::from_slice(out.payload().map(|b| b.as_ref()).unwrap_or(b"{}"))?;
    assert!(answer.to_string().contains("ignored"), "{answer}");
    assert_eq!(h.deliveries().await?, before);

    // 3. JSON and JSONL of the same users give the same counts.
    h.stack.sandbox_config(&json!({"rate_503": 0.0, "rate_429": 0.0})).await?;
    // A dead token whose every attempt met an injected fault in run 1 is
    // still in the table: a first send prunes it, so the two compared sends
    // below meet the same devices (otherwise the first of them prunes it and
    // the second counts that user with one device fewer).
    let etag = h.put("batches/settle.jsonl", jsonl("settle", 0..1500, &opts)).await?;
    assert_eq!(h.finished("batches/settle.jsonl", &etag).await?.1.status, "done");
    let mut counters = Vec::new();
    for (key, body) in [
        ("batches/same.json", json_file("same", 0..1500, &opts)),
        ("batches/same.jsonl", jsonl("same", 0..1500, &opts)),
    ] {
        let etag = h.put(key, body).await?;
        let (_, s) = h.finished(key, &etag).await?;
        assert_eq!(s.status, "done");
        let mut c = s.counters;
        c.batches = 0;
        for d in c.devices.values_mut() {
            d.retries = 0;
        }
        counters.push(c);
    }
    assert_eq!(counters[0], counters[1]);

    // 4. Malformed JSON at entry 1001: the pre-flight check finds it before
    // the first push, so nothing is sent, and the error names the byte and line.
    let mut body = jsonl("broken", 0..1000, &opts);
    let bad_at = body.len() + 1;
    body.extend_from_slice(b"\n{\"user_id\": \"u-x\",, }\n\"u-000001\"\n");
    let etag = h.put("batches/broken.jsonl", body).await?;
    let (_, s) = h.finished("batches/broken.jsonl", &etag).await?;
    assert_eq!(s.status, "failed");
    let reason = s.reason.unwrap_or_default();
    assert!(reason.contains("line 1002") && reason.contains(&format!("byte {}", bad_at + 18)), "{reason}");
    assert!(reason.contains("nothing was sent"), "{reason}");
    assert_eq!(s.counters.entries, 0);

    // 5. Overwriting the file mid-job aborts that job cleanly.
    let key = "batches/overwritten.jsonl";
    let etag = h.put(key, jsonl("over", 0..USERS, &opts)).await?;
    let job = h.job_of(key, &etag).await?.job_id;
    eventually("the job to pass its first checkpoint", Duration::from_secs(120), || async {
        Ok(h.jobs.get(&job).await?.filter(|r| r.counters.entries > 0 || r.status.is_terminal()))
    })
    .await?;
    h.put(key, jsonl("over-2", 0..10, &opts)).await?;
    let (record, s) = h.finished(key, &etag).await?;
    assert_eq!(s.status, "aborted", "{:?}", s.reason);
    assert!(s.reason.unwrap_or_default().contains("changed"));
    assert!(record.counters.entries < USERS);

    // 6. Two apps in one table.
    two_apps(&h).await?;

    // 7. Paths the jobs above do not take, whose calls the policy must
    // allow too (tests/least_privilege.rs checks the run's call log).
    rarer_paths::rarer_paths(&h).await
}
