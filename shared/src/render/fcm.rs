//! The FCM v1 `message` of each kind (the `projects.messages` reference):
//! an alert has `notification`; background and data pushes are data
//! messages, which FCM delivers to the app's own handler.

use serde_json::{Map, Value, json};

use super::merge;
use super::template::Marker;
use crate::batch::{Kind, Notification, Priority};

/// The message without its `token`, texts marked; None for a kind FCM does
/// not carry (Live Activities are iOS only).
pub(super) fn message(kind: Kind, n: &Notification, m: &mut Marker) -> Option<Value> {
    let mut message = Map::new();
    match kind {
        Kind::Alert => {
            let mut notification = Map::new();
            if let Some(t) = &n.title {
                notification.insert("title".into(), m.text(t));
            }
            if let Some(b) = &n.body {
                notification.insert("body".into(), m.text(b));
            }
            if let Some(image) = &n.image {
                notification.insert("image".into(), m.text(image));
            }
            message.insert("notification".into(), Value::Object(notification));
        }
        Kind::Background | Kind::Data => {}
        Kind::LiveActivity => return None,
    }
    if !n.data.is_empty() {
        message.insert("data".into(), Value::Object(data(&n.data, m)));
    }
    message.insert("android".into(), Value::Object(android(kind, n)));
    if let Some(label) = &n.analytics_label {
        message.insert("fcm_options".into(), json!({ "analytics_label": label }));
    }
    merge(&mut message, &n.fcm);
    message.remove("token");
    Some(Value::Object(message))
}

/// FCM data values must be strings: text stays text (placeholders and all),
/// other JSON is sent as its encoding.
fn data(data: &Map<String, Value>, m: &mut Marker) -> Map<String, Value> {
    data.iter()
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => m.text(s),
                other => Value::String(other.to_string()),
            };
            (k.clone(), value)
        })
        .collect()
}

fn android(kind: Kind, n: &Notification) -> Map<String, Value> {
    // FCM: notification messages go at high priority by default, data
    // messages at normal; a background push is always normal.
    let high = match kind {
        Kind::Background => false,
        Kind::Data => n.priority == Some(Priority::High),
        Kind::Alert | Kind::LiveActivity => n.priority != Some(Priority::Normal),
    };
    let mut android = Map::new();
    android.insert("priority".into(), json!(if high { "HIGH" } else { "NORMAL" }));
    if let Some(ttl) = n.ttl_seconds {
        android.insert("ttl".into(), json!(format!("{ttl}s")));
    }
    if let Some(c) = &n.collapse_key {
        android.insert("collapse_key".into(), json!(c));
    }
    if let (Kind::Alert, Some(s)) = (kind, &n.sound) {
        android.insert("notification".into(), json!({ "sound": s }));
    }
    android
}
