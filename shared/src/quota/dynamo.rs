//! The shared bucket as one item of the jobs table.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures::future::BoxFuture;

use super::{Bucket, Grant, QuotaError, QuotaTake};
use crate::clock::now_ms;
use crate::dynamo::{DynamoError, condition_failed, n, number, s};

/// The bucket as one item of the jobs table (`job_id` = `quota#<name>`),
/// updated with conditional writes: a lost race re-reads and tries again.
pub struct DynamoQuota {
    client: aws_sdk_dynamodb::Client,
    table: String,
    key: String,
    bucket: Bucket,
    calls: CallCounts,
}

/// DynamoDB calls a quota store made: its overhead per push.
#[derive(Debug, Default)]
pub struct CallCounts {
    pub reads: AtomicU64,
    pub writes: AtomicU64,
    /// Conditional writes that lost to another sender.
    pub lost_races: AtomicU64,
}

impl CallCounts {
    pub fn total(&self) -> u64 {
        self.reads.load(Relaxed) + self.writes.load(Relaxed)
    }
}

impl DynamoQuota {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>, name: &str, bucket: Bucket) -> Self {
        Self { client, table: table.into(), key: format!("quota#{name}"), bucket, calls: CallCounts::default() }
    }

    pub fn calls(&self) -> &CallCounts {
        &self.calls
    }

    fn err(&self, e: DynamoError) -> QuotaError {
        QuotaError { key: self.key.clone(), source: Box::new(e) }
    }

    async fn take_once(&self, want: u64) -> Result<Option<Grant>, QuotaError> {
        self.calls.reads.fetch_add(1, Relaxed);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("job_id", s(&self.key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.err(DynamoError::new("GetItem", &self.table, e)))?;
        // The stored texts, exactly: the write is conditional on them.
        let raw = |name: &str| out.item().and_then(|i| i.get(name)).and_then(|v| v.as_n().ok()).cloned();
        let (tokens_text, at_text) = (raw("tokens"), raw("at_ms"));
        let (tokens, at) = match out.item() {
            Some(item) => (number::<f64>(item, "tokens").ok().flatten(), number::<i64>(item, "at_ms").ok().flatten()),
            None => (None, None),
        };
        let now = now_ms();
        // A new bucket starts full; an unreadable one is treated as new
        // rather than blocking every sender (the write replaces it).
        let tokens = tokens.unwrap_or(self.bucket.capacity as f64);
        let at = at.unwrap_or(now);
        let available = self.bucket.refill(tokens, at, now);
        let grant = self.bucket.take(available, want);
        if grant.granted == 0 {
            return Ok(Some(grant));
        }
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("job_id", s(&self.key))
            .item("tokens", n(format!("{:.3}", available - grant.granted as f64)))
            .item("at_ms", n(now));
        put = match (tokens_text, at_text) {
            (Some(t), Some(a)) => put
                .condition_expression("tokens = :t AND at_ms = :a")
                .expression_attribute_values(":t", n(t))
                .expression_attribute_values(":a", n(a)),
            _ => put.condition_expression("attribute_not_exists(job_id)"),
        };
        self.calls.writes.fetch_add(1, Relaxed);
        match put.send().await {
            Ok(_) => Ok(Some(grant)),
            Err(e) if condition_failed(&e) => {
                self.calls.lost_races.fetch_add(1, Relaxed);
                Ok(None)
            }
            Err(e) => Err(self.err(DynamoError::new("PutItem", &self.table, e))),
        }
    }
}

const RACE_ATTEMPTS: u32 = 8;

impl QuotaTake for DynamoQuota {
    fn take(&self, want: u64) -> BoxFuture<'_, Result<Grant, QuotaError>> {
        Box::pin(async move {
            for _ in 0..RACE_ATTEMPTS {
                if let Some(grant) = self.take_once(want).await? {
                    return Ok(grant);
                }
            }
            // Every attempt lost a race: the others are taking; come back soon.
            Ok(Grant { granted: 0, wait: Duration::from_millis(20) })
        })
    }
}
