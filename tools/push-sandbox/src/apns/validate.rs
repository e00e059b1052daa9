//! Request checks that do not need state: headers, device token, payload.

use http::HeaderMap;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::reasons::ApnsReason;

/// Apple's limit for regular (non-VoIP) notifications.
pub const MAX_PAYLOAD_BYTES: usize = 4096;

pub const PUSH_TYPES: &[&str] = &[
    "alert",
    "background",
    "voip",
    "complication",
    "fileprovider",
    "mdm",
    "location",
    "liveactivity",
    "pushtotalk",
    "widgets",
];

/// Header checks in Apple's order (after the provider token): topic, push type, then
/// the optional apns-id / priority / expiration / collapse-id headers.
pub fn check_headers(headers: &HeaderMap) -> Result<(), ApnsReason> {
    match headers.get("apns-topic") {
        Some(v) if !v.as_bytes().is_empty() => {}
        _ => return Err(ApnsReason::MissingTopic),
    }
    if let Some(v) = headers.get("apns-push-type")
        && !PUSH_TYPES.iter().any(|t| t.as_bytes() == v.as_bytes())
    {
        return Err(ApnsReason::InvalidPushType);
    }
    if let Some(v) = headers.get("apns-id")
        && !is_canonical_uuid(v.as_bytes())
    {
        return Err(ApnsReason::BadMessageId);
    }
    if let Some(v) = headers.get("apns-priority")
        && !matches!(v.as_bytes(), b"10" | b"5" | b"1")
    {
        return Err(ApnsReason::BadPriority);
    }
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
    Ok(())
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
struct Payload<'a> {
    #[serde(borrow)]
    aps: Option<&'a RawValue>,
}

/// The body must be a JSON object, and `aps`, when present, an object too.
/// Apple documents no reason for malformed JSON; `PayloadEmpty` ("the message payload
/// is empty") is the closest documented one, so a body with no usable JSON object
/// gets it too.
pub fn check_payload(body: &[u8]) -> Result<(), ApnsReason> {
    if body.len() > MAX_PAYLOAD_BYTES {
        return Err(ApnsReason::PayloadTooLarge);
    }
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    match first {
        None => return Err(ApnsReason::PayloadEmpty),
        // serde would also read a JSON array into a struct; only objects are payloads.
        Some(b'{') => {}
        Some(_) => return Err(ApnsReason::PayloadEmpty),
    }
    let payload: Payload<'_> = serde_json::from_slice(body).map_err(|_| ApnsReason::PayloadEmpty)?;
    match payload.aps {
        Some(aps) if !aps.get().starts_with('{') => Err(ApnsReason::PayloadEmpty),
        _ => Ok(()),
    }
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
        assert_eq!(check_headers(&headers(&[("apns-topic", "com.x")])), Ok(()));
        for t in PUSH_TYPES {
            let mut h = headers(&[("apns-topic", "com.x")]);
            h.insert("apns-push-type", HeaderValue::from_static(t));
            assert_eq!(check_headers(&h), Ok(()), "{t}");
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
        assert_eq!(check_headers(&ok), Ok(()));
        let case = |k: &'static str, v: &'static str| check_headers(&headers(&[("apns-topic", "com.x"), (k, v)]));
        assert_eq!(case("apns-id", "nope"), Err(ApnsReason::BadMessageId));
        assert_eq!(case("apns-priority", "7"), Err(ApnsReason::BadPriority));
        assert_eq!(case("apns-expiration", "soon"), Err(ApnsReason::BadExpirationDate));
        let long: &'static str = Box::leak("c".repeat(65).into_boxed_str());
        assert_eq!(case("apns-collapse-id", long), Err(ApnsReason::BadCollapseId));
    }

    #[test]
    fn payloads() {
        assert_eq!(check_payload(br#"{"aps":{"alert":"hi"}}"#), Ok(()));
        assert_eq!(check_payload(br#" {"custom":1}"#), Ok(()));
        assert_eq!(check_payload(b""), Err(ApnsReason::PayloadEmpty));
        assert_eq!(check_payload(b"  \n"), Err(ApnsReason::PayloadEmpty));
        assert_eq!(check_payload(b"[1,2]"), Err(ApnsReason::PayloadEmpty));
        assert_eq!(check_payload(b"{not json"), Err(ApnsReason::PayloadEmpty));
        assert_eq!(check_payload(br#"{"aps":"x"}"#), Err(ApnsReason::PayloadEmpty));
        let big = format!(r#"{{"aps":{{"alert":"{}"}}}}"#, "x".repeat(4096));
        assert_eq!(check_payload(big.as_bytes()), Err(ApnsReason::PayloadTooLarge));
        let exact = format!(r#"{{"a":"{}"}}"#, "x".repeat(4096 - 8));
        assert_eq!(exact.len(), 4096);
        assert_eq!(check_payload(exact.as_bytes()), Ok(()));
    }
}
