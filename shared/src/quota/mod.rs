//! A send quota shared by every sender of one provider project: FCM allows
//! 600,000 messages a minute per project, and every send-batch invocation
//! running at once (three A/B variants, several uploads) draws on the same
//! allowance. Each sender's own governor limiter cannot know about the
//! others, so the allowance is a token bucket in DynamoDB, taken in blocks
//! (a few calls per thousand pushes) and spent locally.

use std::time::Duration;

use futures::future::BoxFuture;
use rand::RngExt;

mod buckets;
mod dynamo;

pub use buckets::{DynamoQuotaBuckets, MemoryQuotaBuckets, QuotaBuckets};
pub use dynamo::{CallCounts, DynamoQuota};

/// What one take from the bucket got.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grant {
    pub granted: u64,
    /// When nothing was granted: how long until `want` tokens are there.
    pub wait: Duration,
}

/// The store behind the bucket could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("the shared quota {key}")]
pub struct QuotaError {
    pub key: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// The bucket: `per_minute` tokens a minute, holding at most `capacity`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub per_minute: u64,
    pub capacity: u64,
}

impl Bucket {
    /// One second's worth of burst, and never less than one block.
    pub fn new(per_minute: u64, block: u64) -> Self {
        Self { per_minute, capacity: (per_minute / 60).max(block).max(1) }
    }

    fn per_ms(&self) -> f64 {
        self.per_minute as f64 / 60_000.0
    }

    /// Tokens in the bucket at `now_ms`, from `tokens` at `at_ms`.
    pub fn refill(&self, tokens: f64, at_ms: i64, now_ms: i64) -> f64 {
        (tokens + (now_ms - at_ms).max(0) as f64 * self.per_ms()).min(self.capacity as f64)
    }

    /// Taking `want` (at most the capacity) from `available`: all of it or
    /// nothing, and then the wait until it is there. Whole blocks only: at
    /// the limit the bucket is nearly empty, and senders taking what little
    /// there is would each make two calls for a handful of tokens (measured:
    /// 34 calls per 1,000 pushes instead of 4, tests/quota.rs).
    pub fn take(&self, available: f64, want: u64) -> Grant {
        let want = want.min(self.capacity).max(1);
        if available >= want as f64 {
            return Grant { granted: want, wait: Duration::ZERO };
        }
        let missing = want as f64 - available.max(0.0);
        Grant { granted: 0, wait: Duration::from_millis((missing / self.per_ms()).ceil() as u64) }
    }
}

/// The port: take up to `want` tokens from the bucket every sender shares.
/// It returns a boxed future so that a push client can hold any store
/// (`Box<dyn QuotaTake>`) without naming it: the push code knows nothing of
/// DynamoDB. One allocation per block of tokens costs nothing next to the
/// block's two round trips.
pub trait QuotaTake: Send + Sync {
    fn take(&self, want: u64) -> BoxFuture<'_, Result<Grant, QuotaError>>;
}

impl<T: QuotaTake + ?Sized> QuotaTake for Box<T> {
    fn take(&self, want: u64) -> BoxFuture<'_, Result<Grant, QuotaError>> {
        (**self).take(want)
    }
}

/// What the push clients hold: the shared quota over a store they do not name.
pub type DynSharedQuota = SharedQuota<Box<dyn QuotaTake>>;

/// A sender's side of the shared quota: tokens taken in blocks, spent one
/// per request.
pub struct SharedQuota<Q> {
    store: Q,
    block: u64,
    local: tokio::sync::Mutex<u64>,
}

/// Consecutive store errors after which a block is spent without the store
/// (fail open: the provider's 429s, which are retried, are the backstop).
const ERRORS_BEFORE_FAIL_OPEN: u32 = 3;

impl<Q: QuotaTake> SharedQuota<Q> {
    pub fn new(store: Q, block: u64) -> Self {
        Self { store, block: block.max(1), local: tokio::sync::Mutex::new(0) }
    }

    pub fn store(&self) -> &Q {
        &self.store
    }

    /// Waits until this sender may send one more request.
    pub async fn take_one(&self) {
        // Waiters queue on the lock: they all wait for the same bucket.
        let mut local = self.local.lock().await;
        let mut errors = 0;
        while *local == 0 {
            match self.store.take(self.block).await {
                Ok(grant) if grant.granted > 0 => *local = grant.granted,
                Ok(grant) => {
                    // Senders that found the bucket short at the same moment
                    // would wake together and race for one block: spread them.
                    let spread = rand::rng().random_range(0..=grant.wait.as_millis() as u64);
                    tokio::time::sleep(grant.wait + Duration::from_millis(spread)).await
                }
                Err(e) => {
                    errors += 1;
                    tracing::error!(error = %crate::errors::Chain(&e), errors, "the shared send quota is unreachable");
                    if errors >= ERRORS_BEFORE_FAIL_OPEN {
                        *local = self.block;
                    } else {
                        tokio::time::sleep(Duration::from_millis(100 << errors)).await;
                    }
                }
            }
        }
        *local -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_refills_at_its_rate_up_to_its_capacity() {
        let b = Bucket::new(600, 5); // 10 a second, at most 10 held
        assert_eq!(b.capacity, 10);
        assert_eq!(b.refill(0.0, 0, 500), 5.0);
        assert_eq!(b.refill(3.0, 0, 60_000), 10.0);
        assert_eq!(b.refill(4.0, 1_000, 500), 4.0, "a clock step back adds nothing");
        assert_eq!(b.take(7.9, 5), Grant { granted: 5, wait: Duration::ZERO });
        assert_eq!(b.take(2.5, 5), Grant { granted: 0, wait: Duration::from_millis(250) }, "a whole block or nothing");
        let empty = b.take(0.4, 5);
        assert_eq!(empty.granted, 0);
        assert_eq!(empty.wait, Duration::from_millis(460), "4.6 tokens at 10 a second");
        assert_eq!(b.take(10.0, 50).granted, 10, "never more than the bucket holds");
    }
}
