//! Takes jobs off the queue and delivers them to the Lambda upstream with
//! Lambda's asynchronous-invocation semantics: bounded concurrency, retries
//! with delays, dead-lettering after the last failure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Request, Uri};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::dead_letter::{DeadLetterRecord, DeadLetters, payload_value};
use crate::http::{HttpClient, full, upstream_uri};
use crate::queue::{Job, Queue};
use crate::stats::{AttemptStatus, InvocationRecord, Stats};

/// Lambda's maximum timeout is 15 minutes; allow a minute more for the
/// emulator's own overhead so a legitimately long run is never cut short.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(16 * 60);

/// How much of an error response is kept for logs and the dead-letter record.
const ERROR_DETAIL_LIMIT: usize = 4096;

pub fn invoke_path(function: &str) -> String {
    format!("/2015-03-31/functions/{function}/invocations")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: AttemptStatus,
    pub http_status: Option<u16>,
    pub error: Option<String>,
}

impl Outcome {
    /// Lambda retries function errors, throttles and service errors; a
    /// rejected request (other 4xx, e.g. unknown function) would fail again.
    pub fn retryable(&self) -> bool {
        !matches!(self.status, AttemptStatus::Ok | AttemptStatus::Rejected)
    }
}

pub struct RetryPolicy {
    pub retries: u32,
    pub delays: Vec<Duration>,
}

impl RetryPolicy {
    /// Delay before the retry that follows failed attempt `attempt` (1-based);
    /// the last listed delay repeats when there are more retries than delays.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        self.delays.get(index).or(self.delays.last()).copied().unwrap_or(Duration::ZERO)
    }
}

pub struct Deliverer {
    pub client: HttpClient,
    pub upstream: Uri,
    pub policy: RetryPolicy,
    pub queue: Arc<Queue>,
    pub stats: Arc<Stats>,
    pub dead_letters: DeadLetters,
}

impl Deliverer {
    /// Runs until aborted: at most `max_concurrency` deliveries at a time.
    pub async fn run(self: Arc<Self>, max_concurrency: usize) {
        let slots = Arc::new(Semaphore::new(max_concurrency.max(1)));
        loop {
            let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let job = self.queue.take().await;
            let this = Arc::clone(&self);
            tokio::spawn(async move { this.deliver(job, permit).await });
        }
    }

    async fn deliver(&self, mut job: Job, permit: OwnedSemaphorePermit) {
        let attempt = job.attempts_made + 1;
        let started = Utc::now();
        let clock = Instant::now();
        let outcome = self.attempt(&job.function, job.payload.clone()).await;
        // Free the slot before any waiting for a retry.
        drop(permit);
        let duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);

        tracing::info!(
            id = %job.id,
            function = %job.function,
            source = job.source.as_str(),
            attempt,
            status = outcome.status.as_str(),
            http_status = outcome.http_status,
            duration_ms,
            error = outcome.error.as_deref(),
            "delivery"
        );
        self.stats.record_attempt(InvocationRecord {
            id: job.id.clone(),
            function: job.function.clone(),
            source: job.source,
            attempt,
            status: outcome.status,
            http_status: outcome.http_status,
            started,
            finished: Utc::now(),
            duration_ms,
            error: outcome.error.clone(),
        });

        if outcome.status == AttemptStatus::Ok {
            self.queue.finish();
        } else if outcome.retryable() && attempt <= self.policy.retries {
            job.attempts_made = attempt;
            self.queue.retry_later(job, self.policy.delay_after(attempt));
        } else {
            self.dead_letter(&job, attempt, &outcome).await;
            self.queue.finish();
        }
    }

    async fn dead_letter(&self, job: &Job, attempts: u32, outcome: &Outcome) {
        let error = outcome.error.as_deref().unwrap_or(outcome.status.as_str());
        let record = DeadLetterRecord {
            function: &job.function,
            payload: payload_value(&job.payload),
            error,
            attempts,
            time: Utc::now(),
            id: &job.id,
            source: job.source,
        };
        match self.dead_letters.append(&record).await {
            Ok(()) => tracing::warn!(
                id = %job.id,
                function = %job.function,
                attempts,
                error,
                path = %self.dead_letters.path().display(),
                "dead-lettered"
            ),
            Err(e) => tracing::error!(
                id = %job.id,
                function = %job.function,
                error = %e,
                "could not write dead-letter record; the invocation is lost"
            ),
        }
        self.stats.record_dead_letter();
    }

    async fn attempt(&self, function: &str, payload: Bytes) -> Outcome {
        match tokio::time::timeout(DELIVERY_TIMEOUT, self.call(function, payload)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome {
                status: AttemptStatus::Timeout,
                http_status: None,
                error: Some(format!("no answer within {} s", DELIVERY_TIMEOUT.as_secs())),
            },
        }
    }

    async fn call(&self, function: &str, payload: Bytes) -> Outcome {
        let connection_error = |what: &str, e: &dyn std::error::Error| Outcome {
            status: AttemptStatus::ConnectionError,
            http_status: None,
            error: Some(format!("{what}: {}", error_chain(e))),
        };
        let uri = match upstream_uri(&self.upstream, &invoke_path(function)) {
            Ok(uri) => uri,
            Err(e) => {
                return Outcome {
                    status: AttemptStatus::Rejected,
                    http_status: None,
                    error: Some(format!("building upstream uri: {e}")),
                };
            }
        };
        let request = Request::post(uri)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("x-amz-invocation-type", "RequestResponse")
            .body(full(payload));
        let request = match request {
            Ok(r) => r,
            Err(e) => return connection_error("building request", &e),
        };
        let response = match self.client.request(request).await {
            Ok(r) => r,
            Err(e) => return connection_error("upstream request failed", &e),
        };
        let status = response.status();
        let function_error =
            response.headers().get("x-amz-function-error").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());

        // Read the whole response: a reset half-way means the function crashed.
        let mut body = response.into_body();
        let mut detail = Vec::new();
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    if let Some(data) = frame.data_ref() {
                        let room = ERROR_DETAIL_LIMIT.saturating_sub(detail.len());
                        detail.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
                Err(e) => return connection_error("upstream response broke off", &e),
            }
        }
        let detail = String::from_utf8_lossy(&detail);
        let http_status = Some(status.as_u16());

        if let Some(kind) = function_error {
            return Outcome {
                status: AttemptStatus::FunctionError,
                http_status,
                error: Some(format!("function error ({kind}): {detail}")),
            };
        }
        let (class, label) = if status.is_success() {
            return Outcome { status: AttemptStatus::Ok, http_status, error: None };
        } else if status.is_server_error() {
            (AttemptStatus::ServerError, "upstream error")
        } else if status.as_u16() == 429 {
            (AttemptStatus::Throttled, "throttled")
        } else {
            (AttemptStatus::Rejected, "rejected")
        };
        Outcome { status: class, http_status, error: Some(format!("{label}: HTTP {}: {detail}", status.as_u16())) }
    }
}

/// hyper's errors say little at the top level ("client error (Connect)");
/// the cause is further down the chain.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_repeat_the_last_one() {
        let policy = RetryPolicy { retries: 4, delays: vec![Duration::from_millis(10), Duration::from_millis(20)] };
        assert_eq!(policy.delay_after(1), Duration::from_millis(10));
        assert_eq!(policy.delay_after(2), Duration::from_millis(20));
        assert_eq!(policy.delay_after(3), Duration::from_millis(20));
        let none = RetryPolicy { retries: 1, delays: vec![] };
        assert_eq!(none.delay_after(1), Duration::ZERO);
    }

    #[test]
    fn only_rejections_and_success_are_final() {
        let o = |status| Outcome { status, http_status: None, error: None };
        assert!(!o(AttemptStatus::Ok).retryable());
        assert!(!o(AttemptStatus::Rejected).retryable());
        assert!(o(AttemptStatus::FunctionError).retryable());
        assert!(o(AttemptStatus::ServerError).retryable());
        assert!(o(AttemptStatus::Throttled).retryable());
        assert!(o(AttemptStatus::ConnectionError).retryable());
        assert!(o(AttemptStatus::Timeout).retryable());
    }
}
