//! Request checks that do not need state: headers, device token, payload.

use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::aps::{self, Violation};
use super::push_type::{DEFAULT_PRIORITY, PushType};
use crate::reasons::ApnsReason;

/// Apple's limit for regular (non-VoIP) notifications.
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// What the payload rules need from the headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PushHeaders {
    /// None when the header is absent: Apple requires it only on watchOS.
    pub push_type: Option<PushType>,
    pub priority: u8,
}

/// Header checks in Apple's order (after the provider token): topic, push type, then
/// the optional apns-id / priority / expiration / collapse-id headers, then the
/// rules that tie topic and priority to the push type.
pub fn check_headers(headers: &HeaderMap) -> Result<PushHeaders, ApnsReason> {
    let topic = match headers.get("apns-topic") {
        Some(v) if !v.as_bytes().is_empty() => v.as_bytes(),
        _ => return Err(ApnsReason::MissingTopic),
    };
    let push_type = headers.get("apns-push-type").map(|v| PushType::from_header(v.as_bytes())).transpose()?;
    if let Some(v) = headers.get("apns-id")
        && !is_canonical_uuid(v.as_bytes())
    {
        return Err(ApnsReason::BadMessageId);
    }
    let priority = match headers.get("apns-priority").map(|v| v.as_bytes()) {
        None => DEFAULT_PRIORITY,
        Some(b"10") => 10,
        Some(b"5") => 5,
        Some(b"1") => 1,
        Some(_) => return Err(ApnsReason::BadPriority),
    };
    if let Some(v) = headers.get("apns-expiration")
        && !is_unsigned_integer(v.as_bytes())
    {
        return Err(ApnsReason::BadExpirationDate);
    }
    if let Some(v) = headers.get("apns-collapse-id")
        && v.as_bytes().len() > 64
    {
        return Err(ApnsReason::BadCollapseId);
    }
    if let Some(t) = push_type {
        t.check_headers(topic, priority)?;
    }
    Ok(PushHeaders { push_type, priority })
}

/// A device token is 64 hex characters (32 bytes).
pub fn check_device_token(token: &str) -> Result<(), ApnsReason> {
    if token.is_empty() {
        Err(ApnsReason::MissingDeviceToken)
    } else if token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(ApnsReason::BadDeviceToken)
    }
}

#[derive(Deserialize)]
struct Payload {
    #[serde(default)]
    aps: Option<Value>,
}

/// Why a payload is refused: a reason Apple documents, or a payload rule it
/// documents without a reason (answered `InvalidPayload`, the rule logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    Reason(ApnsReason),
    Rule(Violation),
}

impl PayloadError {
    pub fn reason(&self) -> ApnsReason {
        match self {
            Self::Reason(r) => *r,
            Self::Rule(_) => ApnsReason::InvalidPayload,
        }
    }
}

/// The body must be a JSON object, and `aps`, when present, an object whose keys
/// follow Apple's rules for the push type.
/// Apple documents no reason for malformed JSON; `PayloadEmpty` ("the message payload
/// is empty") is the closest documented one, so a body with no usable JSON object
/// gets it too.
pub fn check_payload(body: &[u8], push_type: Option<PushType>) -> Result<(), PayloadError> {
    if body.len() > MAX_PAYLOAD_BYTES {
        return Err(PayloadError::Reason(ApnsReason::PayloadTooLarge));
    }
    let empty = PayloadError::Reason(ApnsReason::PayloadEmpty);
    // serde would also read a JSON array into a struct; only objects are payloads.
    if body.iter().copied().find(|b| !b.is_ascii_whitespace()) != Some(b'{') {
        return Err(empty);
    }
    let payload: Payload = serde_json::from_slice(body).map_err(|_| empty.clone())?;
    let no_aps = Map::new();
    let aps = match &payload.aps {
        None => &no_aps,
        Some(Value::Object(aps)) => aps,
        Some(_) => return Err(empty),
    };
    aps::check(aps, push_type).map_err(PayloadError::Rule)
}

/// 8-4-4-4-12 hex digits, as Apple requires for apns-id.
pub fn is_canonical_uuid(v: &[u8]) -> bool {
    v.len() == 36
        && v.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn is_unsigned_integer(v: &[u8]) -> bool {
    !v.is_empty() && v.len() <= 19 && v.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn device_token_shape() {
        assert_eq!(check_device_token(&"a".repeat(64)), Ok(()));
        assert_eq!(check_device_token(&"AbCd".repeat(16)), Ok(()));
        assert_eq!(check_device_token(&"a".repeat(63)), Err(ApnsReason::BadDeviceToken));
        assert_eq!(check_device_token(&"g".repeat(64)), Err(ApnsReason::BadDeviceToken));
        assert_eq!(check_device_token(&"a".repeat(65)), Err(ApnsReason::BadDeviceToken));
        assert_eq!(check_device_token(""), Err(ApnsReason::MissingDeviceToken));
    }

    #[test]
    fn topic_and_push_type() {
        assert_eq!(check_headers(&headers(&[])), Err(ApnsReason::MissingTopic));
        assert_eq!(
            check_headers(&headers(&[("apns-topic", "com.x")])),
            Ok(PushHeaders { push_type: None, priority: 10 })
        );
        for t in PushType::ALL.iter().filter(|t| !matches!(t, PushType::Background | PushType::LiveActivity)) {
            let mut h = headers(&[("apns-topic", "com.x")]);
            h.insert("apns-push-type", HeaderValue::from_static(t.as_str()));
            assert_eq!(check_headers(&h).map(|p| p.push_type), Ok(Some(*t)), "{t:?}");
        }
        assert_eq!(
            check_headers(&headers(&[("apns-topic", "com.x"), ("apns-push-type", "Alert")])),
            Err(ApnsReason::InvalidPushType)
        );
    }

    #[test]
    fn optional_headers() {
        let ok = headers(&[
            ("apns-topic", "com.x"),
            ("apns-id", "123e4567-e89b-12d3-a456-426614174000"),
            ("apns-priority", "5"),
            ("apns-expiration", "0"),
            ("apns-collapse-id", "c1"),
        ]);
        assert_eq!(check_headers(&ok), Ok(PushHeaders { push_type: None, priority: 5 }));
        let case = |k: &'static str, v: &'static str| check_headers(&headers(&[("apns-topic", "com.x"), (k, v)]));
        assert_eq!(case("apns-id", "nope"), Err(ApnsReason::BadMessageId));
        assert_eq!(case("apns-priority", "7"), Err(ApnsReason::BadPriority));
        assert_eq!(case("apns-priority", "1").map(|p| p.priority), Ok(1));
        assert_eq!(case("apns-expiration", "soon"), Err(ApnsReason::BadExpirationDate));
        let long: &'static str = Box::leak("c".repeat(65).into_boxed_str());
        assert_eq!(case("apns-collapse-id", long), Err(ApnsReason::BadCollapseId));
    }

    #[test]
    fn push_type_header_rules() {
        let bg = |p: &'static str| {
            check_headers(&headers(&[("apns-topic", "com.x"), ("apns-push-type", "background"), ("apns-priority", p)]))
        };
        assert_eq!(bg("5"), Ok(PushHeaders { push_type: Some(PushType::Background), priority: 5 }));
        assert_eq!(bg("10"), Err(ApnsReason::BadPriority));
        let no_priority = headers(&[("apns-topic", "com.x"), ("apns-push-type", "background")]);
        assert_eq!(check_headers(&no_priority), Err(ApnsReason::BadPriority), "absent means 10");
        let la =
            |topic: &'static str| check_headers(&headers(&[("apns-topic", topic), ("apns-push-type", "liveactivity")]));
        assert_eq!(la("com.x.push-type.liveactivity").map(|p| p.push_type), Ok(Some(PushType::LiveActivity)));
        assert_eq!(la("com.x"), Err(ApnsReason::BadTopic));
    }

    fn reason(r: Result<(), PayloadError>) -> Result<(), ApnsReason> {
        r.map_err(|e| e.reason())
    }

    #[test]
    fn payloads() {
        let check = |body: &[u8]| reason(check_payload(body, None));
        assert_eq!(check(br#"{"aps":{"alert":"hi"}}"#), Ok(()));
        assert_eq!(check(br#" {"custom":1}"#), Ok(()));
        assert_eq!(check(b""), Err(ApnsReason::PayloadEmpty));
        assert_eq!(check(b"  \n"), Err(ApnsReason::PayloadEmpty));
        assert_eq!(check(b"[1,2]"), Err(ApnsReason::PayloadEmpty));
        assert_eq!(check(b"{not json"), Err(ApnsReason::PayloadEmpty));
        assert_eq!(check(br#"{"aps":"x"}"#), Err(ApnsReason::PayloadEmpty));
        let big = format!(r#"{{"aps":{{"alert":"{}"}}}}"#, "x".repeat(4096));
        assert_eq!(check(big.as_bytes()), Err(ApnsReason::PayloadTooLarge));
        let exact = format!(r#"{{"a":"{}"}}"#, "x".repeat(4096 - 8));
        assert_eq!(exact.len(), 4096);
        assert_eq!(check(exact.as_bytes()), Ok(()));
    }

    #[test]
    fn payload_rules_follow_the_push_type() {
        let bg = Some(PushType::Background);
        assert_eq!(check_payload(br#"{"aps":{"content-available":1},"k":"v"}"#, bg), Ok(()));
        assert_eq!(check_payload(br#"{"k":"v"}"#, bg), Err(PayloadError::Rule(Violation::NotContentAvailable)));
        let err = check_payload(br#"{"aps":{"content-available":1,"alert":"a"}}"#, bg).expect_err("alert");
        assert_eq!(err.reason(), ApnsReason::InvalidPayload);
        let la = Some(PushType::LiveActivity);
        let no_state = br#"{"aps":{"event":"update","timestamp":1700000000}}"#;
        assert_eq!(
            check_payload(no_state, la),
            Err(PayloadError::Rule(Violation::LiveActivityMissing("content-state")))
        );
    }
}
