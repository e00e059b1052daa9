//! Paths of send-batch the main run does not take, each with calls its
//! policy must allow (tests/least_privilege.rs checks, from the run's call
//! log, that every grant was used): pruning a token the devices API
//! registered (the token item goes too: DeleteItem), a category cap met
//! (the caps table), a job scheduled for later and stopped before it starts
//! (EventBridge Scheduler, with the role passed), and the watchdog (the
//! `live_jobs` index). Run on the main test's stack: no stack of their own.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_lambda::primitives::Blob;
use serde_json::{Value, json};
use shared::batch::{Device, Platform};
use shared::devices::{DeviceRegister, DynamoDevices, Registration, TokenKey};
use shared::jobs::{JobRead, JobStatus};

use super::Harness;
use pushbatch_tests::eventually;

pub async fn rarer_paths(h: &Harness) -> anyhow::Result<()> {
    a_dead_token_registered_through_the_api_leaves_with_its_token_item(h).await?;
    a_category_cap_skips_the_second_push(h).await?;
    a_job_for_later_stopped_before_it_starts(h).await?;
    the_watchdog_reads_the_live_jobs(h).await
}

fn file(header: Value, users: &[Value]) -> Vec<u8> {
    let mut out = header.to_string();
    for user in users {
        out.push('\n');
        out.push_str(&user.to_string());
    }
    out.into_bytes()
}

/// A synchronous invoke of send-batch; its answer.
async fn invoke(h: &Harness, payload: Value) -> anyhow::Result<Value> {
    let out = h
        .stack
        .lambda()
        .await?
        .invoke()
        .function_name("send-batch")
        .payload(Blob::new(payload.to_string()))
        .send()
        .await?;
    let answer: Value = serde_json::from_slice(out.payload().map(|b| b.as_ref()).unwrap_or(b"null"))?;
    anyhow::ensure!(out.function_error().is_none(), "send-batch failed on {payload}: {answer}");
    Ok(answer)
}

async fn a_dead_token_registered_through_the_api_leaves_with_its_token_item(h: &Harness) -> anyhow::Result<()> {
    let table = h.stack.var("DEVICES_TABLE")?.to_owned();
    let dynamodb = h.stack.dynamodb().await;
    // push-sandbox answers Unregistered for tokens starting with "dead".
    let token = format!("dead{}", "0a".repeat(30));
    let registration = Registration { device: Device::new(Platform::Ios, &token), app: None, at: chrono::Utc::now() };
    DynamoDevices::new(dynamodb.clone(), &table).register("lp-owner", &registration, 10).await?;
    let token_item = || async {
        let key = AttributeValue::S(TokenKey::new(Platform::Ios, token.as_str()).item_id());
        let out = dynamodb.get_item().table_name(&table).key("user_id", key).consistent_read(true).send().await?;
        anyhow::Ok(out.item)
    };
    anyhow::ensure!(token_item().await?.is_some(), "registering wrote no token item");

    let key = "batches/lp-prune.jsonl";
    let etag =
        h.put(key, file(json!({"campaign": "lp-prune", "notification": {"title": "t"}}), &[json!("lp-owner")])).await?;
    let (_, summary) = h.finished(key, &etag).await?;
    assert_eq!((summary.status.as_str(), summary.counters.total_devices().pruned), ("done", 1), "{summary:?}");
    assert!(token_item().await?.is_none(), "the pruned token's item names its owner still");
    Ok(())
}

async fn a_category_cap_skips_the_second_push(h: &Harness) -> anyhow::Result<()> {
    let header = json!({"campaign": "lp-caps", "category": "lp-promo", "category_cap_per_day": 1,
                        "notification": {"title": "t"}});
    let user =
        json!({"user_id": "lp-capped", "devices": [{"platform": "android", "token": "lp-caps:APA91b_cap-token"}]});
    let mut capped = Vec::new();
    for key in ["batches/lp-caps-1.jsonl", "batches/lp-caps-2.jsonl"] {
        let etag = h.put(key, file(header.clone(), std::slice::from_ref(&user))).await?;
        let (_, summary) = h.finished(key, &etag).await?;
        assert_eq!(summary.status, "done", "{summary:?}");
        capped.push((summary.counters.targeted_users, summary.counters.capped));
    }
    assert_eq!(capped, vec![(1, 0), (0, 1)], "the cap of one a day lets one push through");
    Ok(())
}

async fn a_job_for_later_stopped_before_it_starts(h: &Harness) -> anyhow::Result<()> {
    let send_at = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let header = json!({"campaign": "lp-later", "send_at": send_at, "notification": {"title": "t"}});
    let key = "batches/lp-later.jsonl";
    let etag = h.put(key, file(header, &[json!("lp-owner")])).await?;
    let job = h.job_of(key, &etag).await?.job_id;
    eventually("the job to be scheduled", std::time::Duration::from_secs(120), || async {
        Ok(h.jobs.get(&job).await?.filter(|r| r.status == JobStatus::Scheduled))
    })
    .await?;
    let stop = json!({"control": {"job_id": job, "action": "stop", "by": "tests/send_batch.rs",
                                  "reason": "scheduled only to be stopped"}});
    invoke(h, stop).await?;
    let (_, summary) = h.finished(key, &etag).await?;
    assert_eq!((summary.status.as_str(), summary.counters.targeted_users), ("stopped", 0), "{summary:?}");
    Ok(())
}

async fn the_watchdog_reads_the_live_jobs(h: &Harness) -> anyhow::Result<()> {
    invoke(h, json!({"watchdog": {}})).await?;
    Ok(())
}
