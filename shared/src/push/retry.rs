//! Sending to one device until it has a final outcome.

use std::time::Duration;

use rand::RngExt;

use super::send::PushSend;
use super::{Outcome, Receipt};
use crate::apps::Route;
use crate::batch::Device;
use crate::render::{Headers, Payloads};

/// A device's final outcome, as the report counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Final {
    Delivered(Receipt),
    Dead(String),
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 5, base: Duration::from_millis(100), cap: Duration::from_secs(10) }
    }
}

impl RetryPolicy {
    /// Full jitter: a random wait up to an exponentially growing ceiling,
    /// unless the provider said when (Retry-After wins, within the cap).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.cap);
        }
        let ceiling = self.base.saturating_mul(1 << attempt.min(16)).min(self.cap);
        let millis = ceiling.as_millis().max(1) as u64;
        Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
    }
}

/// Sends until delivered, dead, failed, or out of attempts. Returns the final
/// outcome and how many retries it took.
pub async fn deliver<P: PushSend>(
    push: &P,
    policy: &RetryPolicy,
    route: &Route,
    device: &Device,
    payloads: &Payloads,
    headers: &Headers,
) -> (Final, u32) {
    let mut attempt = 0;
    let mut renewed = false;
    loop {
        let outcome = push.send(route, device, payloads, headers).await;
        let last_reason = match outcome {
            Outcome::Delivered(receipt) => return (Final::Delivered(receipt), attempt),
            Outcome::Dead(r) => return (Final::Dead(r), attempt),
            Outcome::Failed(r) => return (Final::Failed(r), attempt),
            Outcome::AuthExpired(r) if renewed => return (Final::Failed(r), attempt),
            Outcome::AuthExpired(r) => {
                renewed = true;
                push.renew(route).await;
                r
            }
            Outcome::Retry { reason, after } => {
                if attempt + 1 < policy.max_attempts {
                    tokio::time::sleep(policy.delay(attempt, after)).await;
                }
                reason
            }
        };
        attempt += 1;
        if attempt >= policy.max_attempts {
            return (Final::Failed(format!("{last_reason} (after {attempt} attempts)")), attempt - 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::batch::Header;
    use crate::render::Renderer;

    /// Answers from a script, one per call.
    struct Scripted(Mutex<Vec<Outcome>>, Mutex<u32>);

    impl PushSend for Scripted {
        async fn send(&self, _: &Route, _: &Device, _: &Payloads, _: &Headers) -> Outcome {
            self.0.lock().unwrap().remove(0)
        }
        async fn renew(&self, _: &Route) {
            *self.1.lock().unwrap() += 1;
        }
    }

    fn fixtures() -> (Payloads, Headers) {
        let h: Header = serde_json::from_str(r#"{"campaign":"c","notification":{"body":"b"}}"#).unwrap();
        let r = Renderer::new(&h, "t").unwrap();
        (r.for_user(&Default::default()).unwrap(), r.headers().clone())
    }

    fn fast() -> RetryPolicy {
        RetryPolicy { max_attempts: 3, base: Duration::from_millis(1), cap: Duration::from_millis(5) }
    }

    async fn run(script: Vec<Outcome>) -> ((Final, u32), u32) {
        let push = Scripted(Mutex::new(script), Mutex::new(0));
        let (p, h) = fixtures();
        let device = Device::new(crate::batch::Platform::Android, "t");
        let r = deliver(&push, &fast(), &Route::Fcm { project: None }, &device, &p, &h).await;
        let renewals = *push.1.lock().unwrap();
        (r, renewals)
    }

    fn delivered() -> Outcome {
        Outcome::Delivered(Receipt::default())
    }

    fn retry() -> Outcome {
        Outcome::Retry { reason: "503".into(), after: Some(Duration::from_millis(1)) }
    }

    #[tokio::test]
    async fn retries_then_delivers() {
        assert_eq!(run(vec![retry(), retry(), delivered()]).await.0, (Final::Delivered(Receipt::default()), 2));
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts() {
        let ((f, retries), _) = run(vec![retry(), retry(), retry()]).await;
        assert!(matches!(f, Final::Failed(r) if r.contains("after 3 attempts")));
        assert_eq!(retries, 2);
    }

    #[tokio::test]
    async fn renews_credentials_once() {
        let (r, renewals) = run(vec![Outcome::AuthExpired("x".into()), delivered()]).await;
        assert_eq!((r, renewals), ((Final::Delivered(Receipt::default()), 1), 1));
        let (r, _) = run(vec![Outcome::AuthExpired("x".into()), Outcome::AuthExpired("y".into())]).await;
        assert_eq!(r.0, Final::Failed("y".into()));
    }

    #[test]
    fn delay_honours_retry_after_within_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0, Some(Duration::from_secs(2))), Duration::from_secs(2));
        assert_eq!(p.delay(0, Some(Duration::from_secs(99))), p.cap);
        assert!(p.delay(30, None) <= p.cap);
    }
}
