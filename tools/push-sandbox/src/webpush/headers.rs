//! The message headers of RFC 8030 §5 (TTL, Urgency, Topic) and the content coding
//! of RFC 8291 §4.

use http::HeaderMap;
use http::header::CONTENT_ENCODING;
use serde::Serialize;

use crate::reasons::WebPushReason;

/// RFC 8030 §5.2: a TTL past what a recipient can represent "MUST" be taken as 2^31.
pub const TTL_CEILING: u64 = 1 << 31;
/// RFC 8030 §5.4: "no more than 32 characters from the URL and filename-safe
/// Base64 alphabet".
pub const MAX_TOPIC_LEN: usize = 32;
/// RFC 8291 §4: "the "aes128gcm" content coding".
pub const CONTENT_CODING: &str = "aes128gcm";

/// RFC 8030 §5.3; "normal" when the header is absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Urgency {
    VeryLow,
    Low,
    Normal,
    High,
}

impl Urgency {
    fn parse(v: &[u8]) -> Option<Self> {
        match v {
            b"very-low" => Some(Self::VeryLow),
            b"low" => Some(Self::Low),
            b"normal" => Some(Self::Normal),
            b"high" => Some(Self::High),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageHeaders {
    pub ttl: u64,
    pub urgency: Urgency,
    pub topic: Option<String>,
}

/// Checks in the order a push service reads them: TTL, the content coding of a
/// non-empty body, then Urgency and Topic.
pub fn check(headers: &HeaderMap, body_len: usize) -> Result<MessageHeaders, WebPushReason> {
    let ttl = match headers.get("ttl") {
        None => return Err(WebPushReason::MissingTtl),
        Some(v) => parse_ttl(v.as_bytes()).ok_or(WebPushReason::InvalidTtl)?,
    };
    // A message without a body is a valid push (RFC 8030 §5: the payload is
    // optional); only a body is encrypted and needs the coding.
    if body_len > 0 {
        let coding = headers.get(CONTENT_ENCODING).and_then(|v| v.to_str().ok()).map(str::trim);
        // Content codings are case-insensitive (RFC 9110 §8.4.1).
        if !coding.is_some_and(|c| c.eq_ignore_ascii_case(CONTENT_CODING)) {
            return Err(WebPushReason::UnsupportedEncoding);
        }
    }
    let urgency = match headers.get("urgency") {
        None => Urgency::Normal,
        Some(v) => Urgency::parse(v.as_bytes()).ok_or(WebPushReason::InvalidUrgency)?,
    };
    let topic = match headers.get("topic") {
        None => None,
        Some(v) if is_topic(v.as_bytes()) => Some(String::from_utf8_lossy(v.as_bytes()).into_owned()),
        Some(_) => return Err(WebPushReason::InvalidTopic),
    };
    Ok(MessageHeaders { ttl, urgency, topic })
}

/// `TTL = 1*DIGIT`, capped at 2^31 rather than refused when larger.
fn parse_ttl(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let ttl = v.iter().try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')));
    Some(ttl.map_or(TTL_CEILING, |t| t.min(TTL_CEILING)))
}

fn is_topic(v: &[u8]) -> bool {
    (1..=MAX_TOPIC_LEN).contains(&v.len()) && v.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_str(v).expect("header value"));
        }
        m
    }

    #[test]
    fn ttl_is_required_and_digits_only() {
        assert_eq!(check(&h(&[]), 0), Err(WebPushReason::MissingTtl));
        for bad in ["", "-1", "1.5", "soon", " 60"] {
            assert_eq!(check(&h(&[("ttl", bad)]), 0), Err(WebPushReason::InvalidTtl), "{bad:?}");
        }
        assert_eq!(check(&h(&[("ttl", "0")]), 0).map(|m| m.ttl), Ok(0));
        assert_eq!(check(&h(&[("ttl", "2419200")]), 0).map(|m| m.ttl), Ok(2_419_200));
        let huge = "9".repeat(40);
        assert_eq!(check(&h(&[("ttl", &huge)]), 0).map(|m| m.ttl), Ok(TTL_CEILING));
    }

    #[test]
    fn a_body_needs_aes128gcm() {
        assert_eq!(check(&h(&[("ttl", "60")]), 10), Err(WebPushReason::UnsupportedEncoding));
        assert_eq!(
            check(&h(&[("ttl", "60"), ("content-encoding", "aesgcm")]), 10),
            Err(WebPushReason::UnsupportedEncoding)
        );
        assert!(check(&h(&[("ttl", "60"), ("content-encoding", "aes128gcm")]), 10).is_ok());
        assert!(check(&h(&[("ttl", "60"), ("content-encoding", "AES128GCM")]), 10).is_ok());
        assert!(check(&h(&[("ttl", "60")]), 0).is_ok(), "no body, no coding needed");
    }

    #[test]
    fn urgency_and_topic() {
        let base = |extra: (&'static str, &str)| check(&h(&[("ttl", "60"), extra]), 0);
        assert_eq!(check(&h(&[("ttl", "60")]), 0).map(|m| (m.urgency, m.topic)), Ok((Urgency::Normal, None)));
        for (v, u) in [("very-low", Urgency::VeryLow), ("low", Urgency::Low), ("high", Urgency::High)] {
            assert_eq!(base(("urgency", v)).map(|m| m.urgency), Ok(u));
        }
        for bad in ["urgent", "HIGH", "very low"] {
            assert_eq!(base(("urgency", bad)), Err(WebPushReason::InvalidUrgency), "{bad}");
        }
        assert_eq!(base(("topic", "scores_match-7")).map(|m| m.topic), Ok(Some("scores_match-7".into())));
        assert!(base(("topic", &"a".repeat(32))).is_ok());
        for bad in ["a".repeat(33), "has space".into(), "plus+".into(), "pad=".into(), String::new()] {
            assert_eq!(base(("topic", &bad)), Err(WebPushReason::InvalidTopic), "{bad:?}");
        }
    }
}
