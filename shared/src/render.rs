//! Turns a batch's notification into what APNs and FCM are sent, per user.
//!
//! The templates are checked once, before anything is sent: a notification too
//! big for a provider fails the job at once rather than after a million 400s.

use std::sync::Arc;

use bytes::Bytes;
use http::HeaderValue;
use serde_json::{Map, Value, json};

use crate::batch::{Header, Platform, Priority};

/// APNs and FCM both cap the payload at 4 KB.
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// Room reserved for the FCM token spliced into each request body: FCM
/// tokens are about 160 characters today.
const FCM_TOKEN_ALLOWANCE: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("the notification renders to {bytes} bytes for {}; the limit is {MAX_PAYLOAD_BYTES}", .platform.as_str())]
    TooLarge { platform: Platform, bytes: usize },
    #[error("`{field}` cannot be sent as an HTTP header: {value:?}")]
    BadHeader { field: &'static str, value: String },
}

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

fn header_value(field: &'static str, value: &str) -> Result<HeaderValue, RenderError> {
    HeaderValue::from_str(value).map_err(|_| RenderError::BadHeader { field, value: value.to_owned() })
}

/// One user's payloads.
#[derive(Debug, Clone)]
pub struct Payloads {
    pub apns: Bytes,
    fcm: Arc<FcmSplice>,
}

/// The FCM body with a gap where the token goes, so each device costs a copy
/// rather than a serialization.
#[derive(Debug)]
struct FcmSplice {
    prefix: Vec<u8>,
    suffix: Vec<u8>,
}

impl Payloads {
    /// The full `messages:send` body for one FCM token.
    pub fn fcm_body(&self, token: &str) -> Bytes {
        // A JSON value's Display is its encoding and cannot fail.
        let quoted = Value::from(token).to_string();
        let mut out = Vec::with_capacity(self.fcm.prefix.len() + quoted.len() + self.fcm.suffix.len());
        out.extend_from_slice(&self.fcm.prefix);
        out.extend_from_slice(quoted.as_bytes());
        out.extend_from_slice(&self.fcm.suffix);
        Bytes::from(out)
    }
}

pub struct Renderer {
    header: Header,
    apns_headers: ApnsHeaders,
    /// Set when no text has placeholders: every user gets the same bytes.
    shared: Option<Payloads>,
}

impl Renderer {
    /// Checks the template against the size limits and prepares it.
    pub fn new(header: &Header, default_topic: &str) -> Result<Self, RenderError> {
        let n = &header.notification;
        let str_of = |k: &str| n.apns.get(k).and_then(Value::as_str).map(str::to_owned);
        let topic = str_of("topic").unwrap_or_else(|| default_topic.to_owned());
        let push_type = str_of("push_type").unwrap_or_else(|| "alert".into());
        let priority: u8 = match n.priority {
            Some(Priority::Normal) => 5,
            _ => 10,
        };
        let wire = WireHeaders {
            topic: header_value("apns.topic", &topic)?,
            push_type: header_value("apns.push_type", &push_type)?,
            priority: HeaderValue::from(u16::from(priority)),
            collapse_id: n.collapse_key.as_deref().map(|c| header_value("collapse_key", c)).transpose()?,
        };
        let apns_headers = ApnsHeaders {
            topic,
            push_type,
            priority,
            collapse_id: n.collapse_key.clone(),
            ttl_seconds: n.ttl_seconds,
            wire,
        };
        let mut renderer = Self { header: header.clone(), apns_headers, shared: None };
        // Rendering with no vars gives the smallest form; it must already fit.
        let probe = renderer.render(&Map::new())?;
        let has_vars = [&n.title, &n.body].iter().any(|t| t.as_deref().is_some_and(|t| t.contains("{{")));
        if !has_vars {
            renderer.shared = Some(probe);
        }
        Ok(renderer)
    }

    pub fn apns_headers(&self) -> &ApnsHeaders {
        &self.apns_headers
    }

    /// The payloads for one user, or which limit their vars broke.
    pub fn for_user(&self, vars: &Map<String, Value>) -> Result<Payloads, RenderError> {
        match &self.shared {
            Some(p) => Ok(p.clone()),
            None => self.render(vars),
        }
    }

    fn render(&self, vars: &Map<String, Value>) -> Result<Payloads, RenderError> {
        let n = &self.header.notification;
        let title = n.title.as_deref().map(|t| fill(t, vars));
        let body = n.body.as_deref().map(|t| fill(t, vars));

        let mut alert = Map::new();
        if let Some(t) = &title {
            alert.insert("title".into(), json!(t));
        }
        if let Some(b) = &body {
            alert.insert("body".into(), json!(b));
        }
        let mut aps = Map::new();
        aps.insert("alert".into(), Value::Object(alert.clone()));
        if let Some(s) = &n.sound {
            aps.insert("sound".into(), json!(s));
        }
        if let Some(b) = n.badge {
            aps.insert("badge".into(), json!(b));
        }
        let mut apns = Map::new();
        for (k, v) in &n.data {
            apns.insert(k.clone(), v.clone());
        }
        apns.insert("aps".into(), Value::Object(aps));
        let overrides: Map<String, Value> = n
            .apns
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "topic" | "push_type"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        merge(&mut apns, &overrides);
        let apns = Value::Object(apns).to_string().into_bytes();
        if apns.len() > MAX_PAYLOAD_BYTES {
            return Err(RenderError::TooLarge { platform: Platform::Ios, bytes: apns.len() });
        }

        let mut message = Map::new();
        message.insert("notification".into(), Value::Object(alert));
        if !n.data.is_empty() {
            // FCM data values must be strings.
            let data: Map<String, Value> = n
                .data
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.as_str().map_or_else(|| v.to_string(), str::to_owned))))
                .collect();
            message.insert("data".into(), Value::Object(data));
        }
        let mut android = Map::new();
        android.insert("priority".into(), json!(if n.priority == Some(Priority::Normal) { "NORMAL" } else { "HIGH" }));
        if let Some(ttl) = n.ttl_seconds {
            android.insert("ttl".into(), json!(format!("{ttl}s")));
        }
        if let Some(c) = &n.collapse_key {
            android.insert("collapse_key".into(), json!(c));
        }
        if let Some(s) = &n.sound {
            android.insert("notification".into(), json!({ "sound": s }));
        }
        message.insert("android".into(), Value::Object(android));
        merge(&mut message, &n.fcm);
        message.remove("token");
        let inner = Value::Object(message).to_string().into_bytes();
        // inner is `{...}`: splice `"token":<t>,` right after its brace.
        let mut prefix = br#"{"message":{"token":"#.to_vec();
        let mut suffix = Vec::with_capacity(inner.len() + 1);
        if inner.len() > 2 {
            suffix.push(b',');
        }
        suffix.extend_from_slice(&inner[1..]);
        suffix.push(b'}');
        let fcm_bytes = prefix.len() + suffix.len() + FCM_TOKEN_ALLOWANCE;
        if fcm_bytes > MAX_PAYLOAD_BYTES {
            return Err(RenderError::TooLarge { platform: Platform::Android, bytes: fcm_bytes });
        }
        prefix.shrink_to_fit();
        Ok(Payloads { apns: Bytes::from(apns), fcm: Arc::new(FcmSplice { prefix, suffix }) })
    }
}

/// Replaces `{{name}}` (spaces allowed inside the braces) with the user's
/// value; a missing value renders as nothing.
pub fn fill(template: &str, vars: &Map<String, Value>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = after[..end].trim();
                match vars.get(name) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(Value::Null) | None => {}
                    Some(other) => out.push_str(&other.to_string()),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Deep-merges `overrides` into `base`: objects merge, anything else replaces.
fn merge(base: &mut Map<String, Value>, overrides: &Map<String, Value>) {
    for (k, v) in overrides {
        match (base.get_mut(k), v) {
            (Some(Value::Object(b)), Value::Object(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(v: Value) -> Header {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn placeholders_are_filled() {
        let vars = json!({"name": "Ann", "n": 3}).as_object().unwrap().clone();
        assert_eq!(fill("Hi {{name}}, {{ n }} new {{missing}}!", &vars), "Hi Ann, 3 new !");
        assert_eq!(fill("broken {{name", &vars), "broken {{name");
    }

    #[test]
    fn payloads_follow_each_provider_and_overrides() {
        let h = header(json!({
            "campaign": "c",
            "notification": {"title": "T", "body": "Hello {{name}}", "data": {"deeplink": "app://x", "n": 1},
                "sound": "default", "badge": 2, "ttl_seconds": 60, "priority": "normal", "collapse_key": "k",
                "apns": {"topic": "com.t", "aps": {"mutable-content": 1}},
                "fcm": {"android": {"notification": {"channel_id": "news"}}}}
        }));
        let r = Renderer::new(&h, "com.default").unwrap();
        assert_eq!(r.apns_headers().topic, "com.t");
        assert_eq!(r.apns_headers().priority, 5);
        let vars = json!({"name": "Zoë"}).as_object().unwrap().clone();
        let p = r.for_user(&vars).unwrap();
        let apns: Value = serde_json::from_slice(&p.apns).unwrap();
        assert_eq!(apns["aps"]["alert"]["body"], "Hello Zoë");
        assert_eq!(apns["aps"]["mutable-content"], 1);
        assert_eq!(apns["aps"]["badge"], 2);
        assert_eq!(apns["deeplink"], "app://x");
        assert!(apns.get("topic").is_none());
        let fcm: Value = serde_json::from_slice(&p.fcm_body("tok\"en")).unwrap();
        let m = &fcm["message"];
        assert_eq!(m["token"], "tok\"en");
        assert_eq!(m["notification"]["body"], "Hello Zoë");
        assert_eq!(m["data"]["n"], "1");
        assert_eq!(m["android"]["priority"], "NORMAL");
        assert_eq!(m["android"]["ttl"], "60s");
        assert_eq!(m["android"]["notification"]["channel_id"], "news");
        assert_eq!(m["android"]["notification"]["sound"], "default");
    }

    #[test]
    fn too_big_fails_before_sending() {
        let h = header(json!({"campaign": "c", "notification": {"body": "x".repeat(4100)}}));
        assert!(matches!(Renderer::new(&h, "t"), Err(RenderError::TooLarge { platform: Platform::Ios, .. })));
        // Fits APNs but not FCM once the token allowance is counted.
        let h = header(json!({"campaign": "c", "notification": {"body": "x".repeat(3900)}}));
        assert!(matches!(Renderer::new(&h, "t"), Err(RenderError::TooLarge { platform: Platform::Android, .. })));
        // Vars can push one user over the limit without failing the job.
        let h = header(json!({"campaign": "c", "notification": {"body": "{{bio}}"}}));
        let r = Renderer::new(&h, "t").unwrap();
        let vars = json!({"bio": "y".repeat(5000)}).as_object().unwrap().clone();
        assert!(r.for_user(&vars).is_err());
    }
}
