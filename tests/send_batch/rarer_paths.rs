//! Paths of send-batch no other local-stack test takes, each with calls its
//! policy must allow (tests/least_privilege.rs checks, from the run's call
//! log, that every grant was used): pruning a token the devices API
//! registered (the token item goes too: DeleteItem), and the watchdog (the
//! `live_jobs` index). Schedules and caps are tests/controls.rs's and
//! tests/respect.rs's. Run on the main test's stack: no stack of their own.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_lambda::primitives::Blob;
use serde_json::{Value, json};
use shared::batch::{Device, Platform};
use shared::devices::{DeviceRegister, DynamoDevices, Registration, TokenKey};

use super::Harness;

pub async fn rarer_paths(h: &Harness) -> anyhow::Result<()> {
    a_dead_token_registered_through_the_api_leaves_with_its_token_item(h).await?;
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

async fn the_watchdog_reads_the_live_jobs(h: &Harness) -> anyhow::Result<()> {
    invoke(h, json!({"watchdog": {}})).await?;
    Ok(())
}
