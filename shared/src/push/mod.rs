//! Push providers: APNs over our own HTTP/2 client, FCM over the HTTP v1 API,
//! and Web Push to each browser's push service.
//!
//! Each answer is mapped to an [`Outcome`]; the retry loop lives in
//! [`retry`], and the connection pool APNs and FCM share in [`h2`].

pub mod apns;
pub mod fcm;
pub mod h2;
pub mod retry;
pub mod send;
mod tls;
pub mod vapid;
pub mod webpush;

use std::time::Duration;

use crate::metrics::AnswerClass;

pub use send::{Providers, PushSend};
pub use tls::{TlsError, client_config};

/// What one request's answer means for the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// The token is dead: remove it from the devices table.
    Dead(String),
    /// Try again later (429, 5xx, a lost connection, GOAWAY).
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// The credentials were refused; refresh them and try again once.
    AuthExpired(String),
    /// Give up and record it in `failed.jsonl`.
    Failed(String),
}

impl Outcome {
    /// The outcome without its reason, as the metrics count it.
    pub fn class(&self) -> AnswerClass {
        match self {
            Outcome::Delivered => AnswerClass::Delivered,
            Outcome::Dead(_) => AnswerClass::Dead,
            Outcome::Retry { .. } => AnswerClass::Retry,
            Outcome::AuthExpired(_) => AnswerClass::AuthExpired,
            Outcome::Failed(_) => AnswerClass::Failed,
        }
    }
}

/// Parses a `retry-after` header given in seconds (both providers use seconds).
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
}
