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

use serde::Serialize;

use crate::metrics::AnswerClass;

pub use send::{Providers, PushSend};
pub use tls::{TlsError, client_config};

/// What one request's answer means for the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered(Receipt),
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
            Outcome::Delivered(_) => AnswerClass::Delivered,
            Outcome::Dead(_) => AnswerClass::Dead,
            Outcome::Retry { .. } => AnswerClass::Retry,
            Outcome::AuthExpired(_) => AnswerClass::AuthExpired,
            Outcome::Failed(_) => AnswerClass::Failed,
        }
    }
}

/// The provider's own name for a push it accepted, so that a user's
/// complaint can be traced with the provider's tools: Apple's Push
/// Notifications Console, Firebase's message id, a push service's message
/// resource. Each field is named as its provider names it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// APNs' `apns-id` response header: ours if we sent one, else a UUID
    /// APNs made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apns_id: Option<String>,
    /// APNs' `apns-unique-id`, which only the development environment
    /// returns: the key to the console's delivery log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apns_unique_id: Option<String>,
    /// FCM's message `name`, `projects/<project>/messages/<id>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fcm_name: Option<String>,
    /// The push message resource a push service made (RFC 8030 §5: the
    /// 201's `Location`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webpush_location: Option<String>,
}

impl Outcome {
    /// A delivery with the receipt its answer carries, when receipts are
    /// `wanted` (a client built `with_receipts`); any other outcome as it is.
    /// Unwanted, nothing of the answer is read.
    pub fn with_receipt(self, wanted: bool, receipt: impl FnOnce() -> Receipt) -> Self {
        match self {
            Outcome::Delivered(_) if wanted => Outcome::Delivered(receipt()),
            other => other,
        }
    }
}

/// A response header as text, when it is there and is text.
pub fn header_text(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_owned)
}

/// Parses a `retry-after` header given in seconds (both providers use seconds).
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    headers.get(http::header::RETRY_AFTER)?.to_str().ok()?.trim().parse::<u64>().ok().map(Duration::from_secs)
}
