//! What the push clients publish: every answer by its class, each
//! request's latency, and time spent waiting for a rate limit.

use std::time::Duration;

use super::names::{PUSH_ANSWERS, PUSH_LATENCY, THROTTLED_TIME};
use super::quantize;
use crate::batch::Platform;

/// The `provider` dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Provider {
    Apns,
    Fcm,
    WebPush,
}

impl Provider {
    pub const ALL: [Provider; 3] = [Provider::Apns, Provider::Fcm, Provider::WebPush];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Apns => "apns",
            Provider::Fcm => "fcm",
            Provider::WebPush => "webpush",
        }
    }
}

impl From<Platform> for Provider {
    fn from(platform: Platform) -> Self {
        match platform {
            Platform::Ios => Provider::Apns,
            Platform::Android => Provider::Fcm,
            Platform::Web => Provider::WebPush,
        }
    }
}

/// The `outcome` dimension of [`PUSH_ANSWERS`]: what an answer means for
/// the device (the push module's `Outcome` without its reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AnswerClass {
    Delivered,
    Dead,
    Retry,
    AuthExpired,
    Failed,
}

impl AnswerClass {
    pub const ALL: [AnswerClass; 5] =
        [AnswerClass::Delivered, AnswerClass::Dead, AnswerClass::Retry, AnswerClass::AuthExpired, AnswerClass::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            AnswerClass::Delivered => "delivered",
            AnswerClass::Dead => "dead",
            AnswerClass::Retry => "retry",
            AnswerClass::AuthExpired => "auth_expired",
            AnswerClass::Failed => "failed",
        }
    }
}

/// One answer (or a request that got none: a timeout is `Retry`).
pub fn answer(provider: Provider, class: AnswerClass) {
    metrics::counter!(PUSH_ANSWERS.name, "provider" => provider.as_str(), "outcome" => class.as_str()).increment(1);
}

/// One request's time on the wire, from sending it to its answer.
pub fn latency(provider: Provider, elapsed: Duration) {
    metrics::histogram!(PUSH_LATENCY.name, "provider" => provider.as_str()).record(quantize::micros(elapsed));
}

/// Time one request waited for a rate limit or the shared quota.
pub fn throttled(provider: Provider, waited: Duration) {
    // Microseconds: waits are often well under a millisecond each.
    let us = waited.as_micros() as u64;
    if us > 0 {
        metrics::counter!(THROTTLED_TIME.name, "provider" => provider.as_str()).increment(us);
    }
}
