//! Checks on a `messages:send` body, following FCM HTTP v1's rules.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use super::fields;

/// FCM's limit on a message's payload.
pub const MAX_MESSAGE_BYTES: usize = 4096;
/// Bodies above this are refused before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub const TOKEN_MIN_LEN: usize = 100;
pub const TOKEN_MAX_LEN: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest<'a> {
    #[serde(borrow)]
    message: Option<&'a RawValue>,
    #[serde(default)]
    validate_only: bool,
}

// Unknown fields are refused like Google does ("Invalid JSON payload received.
// Unknown name ..."), which catches misspelled fields in clients.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Message<'a> {
    #[serde(rename = "name", default)]
    _name: Option<IgnoredAny>,
    // Parsed (not ignored) because FCM requires every data value to be a string.
    #[serde(borrow, default)]
    data: Option<HashMap<Cow<'a, str>, Cow<'a, str>>>,
    #[serde(borrow, default)]
    notification: Option<Notification<'a>>,
    #[serde(borrow, default)]
    android: Option<Android<'a>>,
    #[serde(rename = "webpush", default)]
    _webpush: Option<IgnoredAny>,
    #[serde(rename = "apns", default)]
    _apns: Option<IgnoredAny>,
    #[serde(borrow, default)]
    fcm_options: Option<FcmOptions<'a>>,
    #[serde(borrow, default)]
    token: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    topic: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    condition: Option<Cow<'a, str>>,
}

/// FCM v1's Notification has exactly these three fields; a message without one is
/// a data message.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Notification<'a> {
    #[serde(rename = "title", borrow, default)]
    _title: Option<Cow<'a, str>>,
    #[serde(rename = "body", borrow, default)]
    _body: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    image: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FcmOptions<'a> {
    #[serde(borrow, default)]
    analytics_label: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Android<'a> {
    #[serde(borrow, default)]
    priority: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    ttl: Option<Cow<'a, str>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Token(String),
    Topic(String),
    Condition(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidMessage {
    pub target: Target,
    pub validate_only: bool,
}

pub use super::fields::Invalid;
use super::fields::invalid;

pub fn check_body(body: &[u8]) -> Result<ValidMessage, Invalid> {
    let req: SendRequest<'_> =
        serde_json::from_slice(body).map_err(|e| invalid(format!("Invalid JSON payload received. {e}")))?;
    let raw = req.message.ok_or_else(|| invalid("Request contains an invalid argument: message is required."))?;
    if !raw.get().starts_with('{') {
        return Err(invalid("Invalid value at 'message': expected an object."));
    }
    let msg: Message<'_> =
        serde_json::from_str(raw.get()).map_err(|e| invalid(format!("Invalid JSON payload received. {e}")))?;

    let target = match (msg.token, msg.topic, msg.condition) {
        (Some(t), None, None) => Target::Token(t.into_owned()),
        (None, Some(t), None) => Target::Topic(t.into_owned()),
        (None, None, Some(c)) => Target::Condition(c.into_owned()),
        (None, None, None) => {
            return Err(invalid("Recipient of the message is not set: one of token, topic or condition is required."));
        }
        _ => {
            return Err(invalid("Exactly one of token, topic or condition must be set."));
        }
    };
    match &target {
        Target::Token(t) if !is_valid_registration_token(t) => {
            return Err(invalid("The registration token is not a valid FCM registration token"));
        }
        Target::Topic(t) if !is_valid_topic(t) => {
            return Err(invalid("Invalid topic name."));
        }
        Target::Condition(c) if c.trim().is_empty() => {
            return Err(invalid("Invalid condition expression."));
        }
        _ => {}
    }
    // The recipient is addressing, not payload: measure the message without it.
    let target_len = match &target {
        Target::Token(t) | Target::Topic(t) | Target::Condition(t) => t.len(),
    };
    if raw.get().len().saturating_sub(target_len) > MAX_MESSAGE_BYTES {
        return Err(invalid("Message is too big"));
    }
    if let Some(data) = &msg.data {
        fields::check_data_keys(data.keys().map(Cow::as_ref))?;
    }
    if let Some(image) = msg.notification.as_ref().and_then(|n| n.image.as_deref()) {
        fields::check_image(image)?;
    }
    if let Some(label) = msg.fcm_options.as_ref().and_then(|o| o.analytics_label.as_deref()) {
        fields::check_analytics_label(label)?;
    }
    if let Some(android) = &msg.android {
        if let Some(p) = &android.priority
            && !matches!(p.as_ref(), "NORMAL" | "HIGH" | "normal" | "high")
        {
            return Err(invalid(format!("Invalid value at 'message.android.priority' ({p})")));
        }
        if let Some(ttl) = &android.ttl
            && !is_duration(ttl)
        {
            return Err(invalid(format!(
                "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), Field 'ttl', Illegal duration format; duration must end with 's' ({ttl})"
            )));
        }
    }
    Ok(ValidMessage { target, validate_only: req.validate_only })
}

/// 100-4096 characters of `[A-Za-z0-9_:-]`.
pub fn is_valid_registration_token(t: &str) -> bool {
    (TOKEN_MIN_LEN..=TOKEN_MAX_LEN).contains(&t.len())
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-'))
}

/// FCM topic names: `[a-zA-Z0-9-_.~%]+`, optionally prefixed with `/topics/`.
fn is_valid_topic(t: &str) -> bool {
    let name = t.strip_prefix("/topics/").unwrap_or(t);
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'%'))
}

/// google.protobuf.Duration JSON: seconds with up to 9 fractional digits and an `s`.
fn is_duration(s: &str) -> bool {
    let Some(num) = s.strip_suffix('s') else {
        return false;
    };
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (num, None),
    };
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| (1..=9).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> String {
        format!("fcm:{}", "A1_-".repeat(40))
    }

    fn body(message: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "message": message })).expect("json")
    }

    #[test]
    fn accepts_a_token_message() {
        let ok = check_body(&body(serde_json::json!({
            "token": token(),
            "notification": {"title": "t", "body": "b"},
            "data": {"k": "v"},
            "android": {"priority": "HIGH", "ttl": "86400s", "collapse_key": "c"},
            "apns": {"payload": {"aps": {}}}
        })))
        .expect("valid");
        assert_eq!(ok.target, Target::Token(token()));
        assert!(!ok.validate_only);
    }

    #[test]
    fn accepts_topic_and_condition() {
        let ok = check_body(&body(serde_json::json!({"topic": "news"}))).expect("topic");
        assert_eq!(ok.target, Target::Topic("news".into()));
        let ok = check_body(&body(serde_json::json!({"condition": "'a' in topics"}))).expect("condition");
        assert_eq!(ok.target, Target::Condition("'a' in topics".into()));
    }

    #[test]
    fn refuses_bad_targets() {
        assert!(check_body(&body(serde_json::json!({"notification": {}}))).is_err());
        assert!(check_body(&body(serde_json::json!({"token": token(), "topic": "x"}))).is_err());
        assert!(check_body(&body(serde_json::json!({"token": "short"}))).is_err());
        let bad_chars = format!("{}!", "a".repeat(120));
        assert!(check_body(&body(serde_json::json!({ "token": bad_chars }))).is_err());
        assert!(check_body(&body(serde_json::json!({"topic": "a b"}))).is_err());
    }

    #[test]
    fn refuses_bad_shapes() {
        assert!(check_body(b"not json").is_err());
        assert!(check_body(br#"{"msg":{}}"#).is_err(), "unknown top-level field");
        assert!(check_body(br#"{}"#).is_err(), "message missing");
        assert!(check_body(&body(serde_json::json!({"token": token(), "tokne": 1}))).is_err(), "unknown message field");
        assert!(
            check_body(&body(serde_json::json!({"token": token(), "data": {"n": 1}}))).is_err(),
            "data values must be strings"
        );
    }

    #[test]
    fn android_fields() {
        for p in ["NORMAL", "HIGH", "normal", "high"] {
            assert!(
                check_body(&body(serde_json::json!({"token": token(), "android": {"priority": p}}))).is_ok(),
                "{p}"
            );
        }
        assert!(check_body(&body(serde_json::json!({"token": token(), "android": {"priority": "urgent"}}))).is_err());
        for ttl in ["0s", "3600s", "1.5s"] {
            assert!(is_duration(ttl), "{ttl}");
        }
        for ttl in ["3600", "s", "1.s", "-1s", "1hs"] {
            assert!(!is_duration(ttl), "{ttl}");
        }
    }

    #[test]
    fn data_messages_and_their_rules() {
        let data_only = serde_json::json!({"token": token(), "data": {"deeplink": "app://x", "notification": "n"}});
        assert!(check_body(&body(data_only)).is_ok(), "no notification: a data message");
        for key in ["from", "message_type", "google.c.a.e", "gcm.n.e"] {
            let msg = serde_json::json!({"token": token(), "data": { key: "v" }});
            let err = check_body(&body(msg)).expect_err(key);
            assert_eq!(err.0, format!("Invalid data payload key: {key}"));
        }
        let full = serde_json::json!({"token": token(),
            "notification": {"title": "t", "body": "b", "image": "https://cdn.example.com/i.png"},
            "fcm_options": {"analytics_label": "spring_sale-2026"}});
        assert!(check_body(&body(full)).is_ok());
        for bad in [
            serde_json::json!({"token": token(), "notification": {"title": "t", "sound": "x"}}),
            serde_json::json!({"token": token(), "notification": {"image": "not a url"}}),
            serde_json::json!({"token": token(), "fcm_options": {"analytics_label": "no spaces"}}),
            serde_json::json!({"token": token(), "fcm_options": {"label": "x"}}),
        ] {
            assert!(check_body(&body(bad.clone())).is_err(), "{bad}");
        }
    }

    #[test]
    fn size_limit() {
        let fits = "x".repeat(MAX_MESSAGE_BYTES - 100);
        assert!(check_body(&body(serde_json::json!({"token": token(), "data": {"k": fits}}))).is_ok());
        let big = "x".repeat(MAX_MESSAGE_BYTES);
        let err = check_body(&body(serde_json::json!({"token": token(), "data": {"k": big}}))).expect_err("too big");
        assert_eq!(err.0, "Message is too big");
    }

    #[test]
    fn token_shape() {
        assert!(is_valid_registration_token(&"a".repeat(100)));
        assert!(!is_valid_registration_token(&"a".repeat(99)));
        assert!(is_valid_registration_token(&"a".repeat(4096)));
        assert!(!is_valid_registration_token(&"a".repeat(4097)));
    }
}
