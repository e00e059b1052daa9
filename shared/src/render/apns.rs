//! The APNs payload and request headers of each kind, after Apple's
//! "Generating a remote notification", "Pushing background updates to your
//! App" and "Starting and updating Live Activities with ActivityKit push
//! notifications".

use http::HeaderValue;
use serde_json::{Map, Value, json};

use super::template::Marker;
use super::{RenderError, merge};
use crate::batch::{Kind, Notification, Priority};

/// Apple: the liveactivity topic is the bundle id "with
/// `.push-type.liveactivity` appended to the end".
pub const LIVE_ACTIVITY_TOPIC_SUFFIX: &str = ".push-type.liveactivity";

/// Header values for an APNs request that are the same for every device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApnsHeaders {
    pub topic: String,
    pub push_type: String,
    pub priority: u8,
    pub collapse_id: Option<String>,
    pub ttl_seconds: Option<u64>,
    /// The same, encoded once: building them per request showed in profiles.
    pub wire: WireHeaders,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireHeaders {
    pub topic: HeaderValue,
    pub push_type: HeaderValue,
    pub priority: HeaderValue,
    pub collapse_id: Option<HeaderValue>,
}

impl ApnsHeaders {
    /// The `apns-topic` to send with, given the device's app topic: a Live
    /// Activity goes to the app's `.push-type.liveactivity` topic.
    pub fn topic_for(&self, app_topic: &HeaderValue) -> Result<HeaderValue, RenderError> {
        let bytes = app_topic.as_bytes();
        if self.push_type != "liveactivity" || bytes.ends_with(LIVE_ACTIVITY_TOPIC_SUFFIX.as_bytes()) {
            return Ok(app_topic.clone());
        }
        let mut topic = bytes.to_vec();
        topic.extend_from_slice(LIVE_ACTIVITY_TOPIC_SUFFIX.as_bytes());
        HeaderValue::from_bytes(&topic).map_err(|_| RenderError::BadHeader {
            field: "apns.topic",
            value: String::from_utf8_lossy(&topic).into_owned(),
        })
    }
}

pub(super) fn header_value(field: &'static str, value: &str) -> Result<HeaderValue, RenderError> {
    HeaderValue::from_str(value).map_err(|_| RenderError::BadHeader { field, value: value.to_owned() })
}

pub(super) fn headers(kind: Kind, n: &Notification, default_topic: &str) -> Result<ApnsHeaders, RenderError> {
    let str_of = |k: &str| n.apns.get(k).and_then(Value::as_str).map(str::to_owned);
    let topic = str_of("topic").unwrap_or_else(|| default_topic.to_owned());
    // The header check allows an override only where it agrees with the kind.
    let push_type = str_of("push_type").unwrap_or_else(|| kind.apns_push_type().to_owned());
    let priority: u8 = match (kind, n.priority) {
        // Apple, background: "Always use priority 5. Using priority 10 is an error."
        (Kind::Background | Kind::Data, _) => 5,
        (_, Some(Priority::Normal)) => 5,
        _ => 10,
    };
    let wire = WireHeaders {
        topic: header_value("apns.topic", &topic)?,
        push_type: header_value("apns.push_type", &push_type)?,
        priority: HeaderValue::from(u16::from(priority)),
        collapse_id: n.collapse_key.as_deref().map(|c| header_value("collapse_key", c)).transpose()?,
    };
    Ok(ApnsHeaders {
        topic,
        push_type,
        priority,
        collapse_id: n.collapse_key.clone(),
        ttl_seconds: n.ttl_seconds,
        wire,
    })
}

/// The payload, its texts marked for the users' values.
pub(super) fn payload(kind: Kind, n: &Notification, m: &mut Marker) -> Value {
    let mut top = m.map(&n.data);
    let aps = match kind {
        Kind::Alert => alert(n, m, &mut top),
        // Apple: "an aps dictionary that includes only the content-available key".
        Kind::Background | Kind::Data => json!({"content-available": 1}),
        Kind::LiveActivity => live_activity(n, m),
    };
    top.insert("aps".into(), aps);
    let overrides: Map<String, Value> = n
        .apns
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "topic" | "push_type"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    merge(&mut top, &overrides);
    Value::Object(top)
}

fn alert_text(n: &Notification, m: &mut Marker) -> Map<String, Value> {
    let mut alert = Map::new();
    if let Some(t) = &n.title {
        alert.insert("title".into(), m.text(t));
    }
    if let Some(b) = &n.body {
        alert.insert("body".into(), m.text(b));
    }
    alert
}

fn alert(n: &Notification, m: &mut Marker, top: &mut Map<String, Value>) -> Value {
    let mut aps = Map::new();
    aps.insert("alert".into(), Value::Object(alert_text(n, m)));
    if let Some(s) = &n.sound {
        aps.insert("sound".into(), json!(s));
    }
    if let Some(b) = n.badge {
        aps.insert("badge".into(), json!(b));
    }
    if let Some(t) = &n.thread_id {
        aps.insert("thread-id".into(), m.text(t));
    }
    if let Some(level) = n.interruption_level {
        aps.insert("interruption-level".into(), json!(level.as_str()));
    }
    if let Some(score) = n.relevance_score {
        aps.insert("relevance-score".into(), json!(score));
    }
    // The image is fetched by the app's notification service extension,
    // which only runs for a mutable-content notification.
    if let Some(image) = &n.image {
        top.insert("image".into(), m.text(image));
    }
    if n.mutable_content == Some(true) || n.image.is_some() {
        aps.insert("mutable-content".into(), json!(1));
    }
    Value::Object(aps)
}

fn live_activity(n: &Notification, m: &mut Marker) -> Value {
    let mut aps = Map::new();
    let Some(la) = &n.live_activity else { return Value::Object(aps) };
    if let Some(event) = la.event {
        aps.insert("event".into(), json!(event.as_str()));
    }
    if let Some(t) = la.timestamp {
        aps.insert("timestamp".into(), json!(t));
    }
    if let Some(state) = &la.content_state {
        aps.insert("content-state".into(), Value::Object(m.map(state)));
    }
    if let Some(d) = la.dismissal_date {
        aps.insert("dismissal-date".into(), json!(d));
    }
    if let Some(d) = la.stale_date {
        aps.insert("stale-date".into(), json!(d));
    }
    if let Some(t) = &la.attributes_type {
        aps.insert("attributes-type".into(), json!(t));
    }
    if let Some(a) = &la.attributes {
        aps.insert("attributes".into(), Value::Object(m.map(a)));
    }
    if let Some(score) = n.relevance_score {
        aps.insert("relevance-score".into(), json!(score));
    }
    // An update may alert: title and body, and its sound inside `alert`.
    let mut alert = alert_text(n, m);
    if let Some(s) = &n.sound {
        alert.insert("sound".into(), json!(s));
    }
    if !alert.is_empty() {
        aps.insert("alert".into(), Value::Object(alert));
    }
    Value::Object(aps)
}
