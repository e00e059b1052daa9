//! The Web Push message: the JSON a site's service worker reads from the
//! push event, and the RFC 8030 headers it travels with.

use http::HeaderValue;
use serde_json::{Map, Value, json};

use super::merge;
use super::template::Marker;
use crate::batch::{Kind, Notification, Priority};

/// RFC 8291 §4: push services need not take more than 4096 bytes of body;
/// less the aes128gcm header (86), the padding delimiter (1) and the
/// AES-GCM tag (16), that is 3993 bytes of plaintext.
pub const MAX_PLAINTEXT_BYTES: usize = 3993;
/// Without `ttl_seconds`, a message is kept as long as FCM keeps one: four weeks.
pub const DEFAULT_TTL_SECONDS: u64 = 28 * 24 * 3600;
/// RFC 8030 §5.4: a Topic is at most 32 characters of base64url.
const MAX_TOPIC_LEN: usize = 32;

/// RFC 8030 §5 headers, the same for every subscription of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebHeaders {
    /// §5.2: required; how long the push service keeps an undelivered message.
    pub ttl: HeaderValue,
    /// §5.3: `high` or `normal`, from the notification's priority.
    pub urgency: HeaderValue,
    /// §5.4: the collapse key, when it is a valid Topic; a newer message
    /// with the same Topic replaces an undelivered one.
    pub topic: Option<HeaderValue>,
}

pub(super) fn headers(kind: Kind, n: &Notification) -> WebHeaders {
    let high = match kind {
        Kind::Background | Kind::Data => n.priority == Some(Priority::High),
        Kind::Alert | Kind::LiveActivity => n.priority != Some(Priority::Normal),
    };
    let topic = n
        .collapse_key
        .as_deref()
        .filter(|t| {
            (1..=MAX_TOPIC_LEN).contains(&t.len())
                && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .and_then(|t| HeaderValue::from_str(t).ok());
    WebHeaders {
        ttl: HeaderValue::from(n.ttl_seconds.unwrap_or(DEFAULT_TTL_SECONDS)),
        urgency: HeaderValue::from_static(if high { "high" } else { "normal" }),
        topic,
    }
}

/// `{"title", "body", "image", "data"}` for an alert, `{"data"}` for a
/// background or data push, then `notification.web` merged in. None for a
/// Live Activity, which browsers do not have.
pub(super) fn payload(kind: Kind, n: &Notification, m: &mut Marker) -> Option<Value> {
    let mut out = Map::new();
    match kind {
        Kind::Alert => {
            for (key, text) in [("title", &n.title), ("body", &n.body), ("image", &n.image)] {
                if let Some(t) = text {
                    out.insert(key.into(), m.text(t));
                }
            }
        }
        Kind::Background | Kind::Data => {}
        Kind::LiveActivity => return None,
    }
    if !n.data.is_empty() || kind != Kind::Alert {
        out.insert("data".into(), Value::Object(m.map(&n.data)));
    }
    if let (Kind::Alert, Some(badge)) = (kind, n.badge) {
        out.insert("badge".into(), json!(badge));
    }
    merge(&mut out, &n.web);
    Some(Value::Object(out))
}
