//! Buckets made on demand, one per key: a job's `rate_per_second` is a bucket
//! of its own (`rate#<job>`), shared by every link and shard of the job.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;

use super::{Bucket, DynamoQuota, Grant, QuotaError, QuotaTake};
use crate::clock::now_ms;

pub trait QuotaBuckets: Send + Sync {
    fn bucket(&self, key: &str, bucket: Bucket) -> Box<dyn QuotaTake>;
}

/// Items of the jobs table, as for the providers' shared quotas.
pub struct DynamoQuotaBuckets {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoQuotaBuckets {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

impl QuotaBuckets for DynamoQuotaBuckets {
    fn bucket(&self, key: &str, bucket: Bucket) -> Box<dyn QuotaTake> {
        Box::new(DynamoQuota::new(self.client.clone(), &self.table, key, bucket))
    }
}

/// Buckets in memory, shared between the handles they make (as the items
/// are between senders), for tests.
#[derive(Default, Clone)]
pub struct MemoryQuotaBuckets {
    /// Tokens and the time they were counted, per key.
    state: Arc<Mutex<HashMap<String, (f64, i64)>>>,
}

struct MemoryQuota {
    key: String,
    bucket: Bucket,
    state: Arc<Mutex<HashMap<String, (f64, i64)>>>,
}

impl QuotaBuckets for MemoryQuotaBuckets {
    fn bucket(&self, key: &str, bucket: Bucket) -> Box<dyn QuotaTake> {
        Box::new(MemoryQuota { key: key.into(), bucket, state: Arc::clone(&self.state) })
    }
}

impl QuotaTake for MemoryQuota {
    fn take(&self, want: u64) -> BoxFuture<'_, Result<Grant, QuotaError>> {
        Box::pin(async move {
            let now = now_ms();
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let (tokens, at) = state.get(&self.key).copied().unwrap_or((self.bucket.capacity as f64, now));
            let available = self.bucket.refill(tokens, at, now);
            let grant = self.bucket.take(available, want);
            state.insert(self.key.clone(), (available - grant.granted as f64, now));
            Ok(grant)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn handles_of_one_key_share_the_bucket() {
        let buckets = MemoryQuotaBuckets::default();
        let b = Bucket::new(60_000, 10); // 1,000 a second, 1,000 held
        let (one, two) = (buckets.bucket("rate#j", b), buckets.bucket("rate#j", b));
        assert_eq!(one.take(600).await.unwrap().granted, 600);
        let short = two.take(600).await.unwrap();
        assert_eq!(short.granted, 0, "the other handle sees what the first took");
        assert!(short.wait.as_millis() > 100);
        assert_eq!(buckets.bucket("rate#other", b).take(600).await.unwrap().granted, 600);
    }
}
