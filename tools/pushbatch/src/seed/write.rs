//! Writing generated users into the devices table with BatchWriteItem.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures::StreamExt;
use indicatif::ProgressBar;
use rand::RngExt;

use super::SeedError;
use super::generate::{SeedOptions, SeedSummary, SeedUser, summarize, user_record};
use super::profile::{ProfileOptions, user_profile};

/// BatchWriteItem's limit.
pub const BATCH_ITEMS: u64 = 25;
/// Attempts at a batch's unprocessed items before giving up.
const MAX_ATTEMPTS: u32 = 12;
const BACKOFF_BASE: Duration = Duration::from_millis(25);
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// The DynamoDB item for a user.
pub fn user_item(user: &SeedUser) -> HashMap<String, AttributeValue> {
    let devices = user
        .devices
        .iter()
        .map(|d| {
            AttributeValue::M(HashMap::from([
                ("platform".to_string(), AttributeValue::S(d.platform.as_str().to_string())),
                ("token".to_string(), AttributeValue::S(d.token.clone())),
                ("app".to_string(), AttributeValue::S(d.app.clone())),
                ("updated_at".to_string(), AttributeValue::S(d.updated_at.clone())),
            ]))
        })
        .collect();
    let mut item = HashMap::from([
        ("user_id".to_string(), AttributeValue::S(user.user_id.clone())),
        ("devices".to_string(), AttributeValue::L(devices)),
        ("push_enabled".to_string(), AttributeValue::Bool(user.push_enabled)),
    ]);
    if !user.muted_categories.is_empty() {
        item.insert("muted_categories".to_string(), AttributeValue::Ss(user.muted_categories.clone()));
    }
    item
}

/// Writes users `0..opts.users` into `table`, `concurrency` batches in
/// flight, and returns the totals of what was written.
pub async fn write_users(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    opts: &SeedOptions,
    concurrency: usize,
    progress: &ProgressBar,
) -> Result<SeedSummary, SeedError> {
    opts.validate()?;
    write_generated(client, table, opts.users, concurrency, progress, |i| user_item(&user_record(i, opts))).await?;
    Ok(summarize(opts))
}

/// Writes the users-table profiles of users `0..opts.users` (what the
/// scheduled campaigns select on).
pub async fn write_profiles(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    opts: &SeedOptions,
    profiles: &ProfileOptions,
    concurrency: usize,
    progress: &ProgressBar,
) -> Result<(), SeedError> {
    write_generated(client, table, opts.users, concurrency, progress, |i| user_profile(i, opts, profiles).to_item())
        .await
}

async fn write_generated(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    count: u64,
    concurrency: usize,
    progress: &ProgressBar,
    item: impl Fn(u64) -> HashMap<String, AttributeValue>,
) -> Result<(), SeedError> {
    let item = &item;
    let batches = count.div_ceil(BATCH_ITEMS);
    let mut writes = futures::stream::iter(0..batches)
        .map(|batch| {
            let start = batch * BATCH_ITEMS;
            let end = (start + BATCH_ITEMS).min(count);
            async move {
                write_batch(client, table, (start..end).map(item).collect()).await?;
                Ok::<_, SeedError>(end - start)
            }
        })
        .buffer_unordered(concurrency.max(1));
    while let Some(result) = writes.next().await {
        progress.inc(result?);
    }
    Ok(())
}

/// One BatchWriteItem call, then retries of `UnprocessedItems` with
/// exponential backoff and full jitter (what DynamoDB asks clients to do
/// when it sheds load).
async fn write_batch(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    items: Vec<HashMap<String, AttributeValue>>,
) -> Result<(), SeedError> {
    let mut pending: Vec<WriteRequest> = items
        .into_iter()
        .map(|item| {
            let put = PutRequest::builder().set_item(Some(item)).build().map_err(|e| SeedError::Write(Box::new(e)))?;
            Ok(WriteRequest::builder().put_request(put).build())
        })
        .collect::<Result<_, SeedError>>()?;
    let mut attempt = 0;
    while !pending.is_empty() {
        attempt += 1;
        if attempt > MAX_ATTEMPTS {
            return Err(SeedError::Unprocessed { items: pending.len(), attempts: MAX_ATTEMPTS });
        }
        if attempt > 1 {
            tokio::time::sleep(backoff(attempt - 1)).await;
        }
        let output = client
            .batch_write_item()
            .request_items(table, pending)
            .send()
            .await
            .map_err(|e| SeedError::Write(Box::new(e)))?;
        pending = output.unprocessed_items.and_then(|mut by_table| by_table.remove(table)).unwrap_or_default();
    }
    Ok(())
}

fn backoff(retry: u32) -> Duration {
    let ceiling = BACKOFF_BASE.saturating_mul(1u32 << retry.min(16)).min(BACKOFF_CAP);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::generate::{Platform, SeedDevice};

    #[test]
    fn item_has_the_schema_send_batch_reads() {
        let user = SeedUser {
            user_id: "u-000001".into(),
            devices: vec![SeedDevice {
                platform: Platform::Ios,
                token: "ab".repeat(32),
                app: "com.example.pushbatch".into(),
                updated_at: "2025-12-01T00:00:00Z".into(),
            }],
            push_enabled: false,
            muted_categories: vec!["news".into()],
        };
        let item = user_item(&user);
        assert_eq!(item["user_id"], AttributeValue::S("u-000001".into()));
        assert_eq!(item["push_enabled"], AttributeValue::Bool(false));
        assert_eq!(item["muted_categories"], AttributeValue::Ss(vec!["news".into()]));
        let AttributeValue::L(devices) = &item["devices"] else {
            panic!("devices is a list");
        };
        let AttributeValue::M(device) = &devices[0] else {
            panic!("device is a map");
        };
        assert_eq!(device["platform"], AttributeValue::S("ios".into()));
        assert_eq!(device["token"], AttributeValue::S("ab".repeat(32)));
        assert_eq!(device.len(), 4);

        let unmuted = SeedUser { muted_categories: vec![], ..user };
        assert!(!user_item(&unmuted).contains_key("muted_categories"));
    }

    #[test]
    fn backoff_is_bounded() {
        for retry in 1..40 {
            assert!(backoff(retry) <= BACKOFF_CAP);
        }
    }
}
