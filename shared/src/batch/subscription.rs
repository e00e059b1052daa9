//! A browser's Web Push subscription, as `PushSubscription.toJSON()` hands it
//! to the page: `{"endpoint", "expirationTime", "keys": {"p256dh", "auth"}}`.
//! The batch reader and the devices API both check it here, so anything the
//! API stores is a subscription send-batch accepts.
//!
//! The endpoint is the device's token: it names the subscription at the push
//! service, and it is what a prune or an unregistration removes.

use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE_NO_PAD, URL_SAFE_NO_PAD_INDIFFERENT};
use serde::Serialize;
use serde_json::{Map, Value};
use web_push_native::p256::PublicKey;

/// `p256dh`: an uncompressed P-256 point (RFC 8291 §2: X9.62, 65 octets).
pub const P256DH_LEN: usize = 65;
/// `auth`: RFC 8291 §2, "16 octets".
pub const AUTH_LEN: usize = 16;
/// Push services hand out endpoints of a few hundred characters; anything far
/// longer is not one (and would not fit a DELETE path).
pub const MAX_ENDPOINT_LEN: usize = 2048;

/// The subscription's keys, base64url without padding (how browsers write them).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct WebKeys {
    pub p256dh: String,
    pub auth: String,
}

impl WebKeys {
    /// The user agent's public key and auth secret, decoded for encryption.
    pub fn decode(&self) -> Result<(PublicKey, [u8; AUTH_LEN]), SubscriptionError> {
        let p256dh = point(&self.p256dh)?;
        let auth = decode("subscription.keys.auth", &self.auth, AUTH_LEN)?;
        let auth: [u8; AUTH_LEN] = auth.try_into().map_err(|_| wrong_length("subscription.keys.auth", AUTH_LEN))?;
        Ok((p256dh, auth))
    }
}

/// Which part of a subscription is wrong, and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {reason}")]
pub struct SubscriptionError {
    pub field: &'static str,
    pub reason: String,
}

fn problem(field: &'static str, reason: impl Into<String>) -> SubscriptionError {
    SubscriptionError { field, reason: reason.into() }
}

fn wrong_length(field: &'static str, len: usize) -> SubscriptionError {
    problem(field, format!("must be base64url of {len} bytes"))
}

/// Why `endpoint` is not a push endpoint, or None when it is one: an absolute
/// https URL with a host (http only for a loopback host, the local stack's
/// push service), no credentials in it, at most 2048 characters. Endpoints
/// come from browsers, that is from users: a private or link-local address
/// is refused, as no push service lives there and send-batch should not
/// post to its own network on a user's say.
pub fn endpoint_problem(endpoint: &str) -> Option<&'static str> {
    if endpoint.is_empty() || endpoint.len() > MAX_ENDPOINT_LEN {
        return Some("must be a URL of 1 to 2048 characters");
    }
    let Ok(uri) = endpoint.parse::<http::Uri>() else { return Some("is not a URL") };
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Some("must be an absolute URL with a host");
    };
    if authority.as_str().contains('@') || authority.host().is_empty() {
        return Some("must name a host and no credentials");
    }
    let host = authority.host();
    match scheme {
        _ if ip_of(host).is_some_and(is_private) => Some("must not name a private or link-local address"),
        "https" => None,
        "http" if is_loopback(host) => None,
        _ => Some("must be an https URL (http only for a loopback host)"),
    }
}

fn ip_of(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || ip_of(host).is_some_and(|ip| ip.is_loopback())
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_link_local() || v4.is_unspecified(),
        // fc00::/7 (unique local) and fe80::/10 (link-local).
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

fn decode(field: &'static str, text: &str, len: usize) -> Result<Vec<u8>, SubscriptionError> {
    // Browsers write base64url without padding; padded copies are tolerated.
    let bytes = URL_SAFE_NO_PAD_INDIFFERENT.decode(text.trim()).map_err(|_| wrong_length(field, len))?;
    if bytes.len() == len { Ok(bytes) } else { Err(wrong_length(field, len)) }
}

fn point(text: &str) -> Result<PublicKey, SubscriptionError> {
    let bytes = decode("subscription.keys.p256dh", text, P256DH_LEN)?;
    if bytes[0] != 0x04 {
        return Err(problem(
            "subscription.keys.p256dh",
            "must be an uncompressed P-256 point (65 bytes starting 0x04)",
        ));
    }
    PublicKey::from_sec1_bytes(&bytes).map_err(|_| problem("subscription.keys.p256dh", "is not a point on P-256"))
}

/// Reads `{"endpoint", "keys": {"p256dh", "auth"}}`; `expirationTime` and
/// other members are ignored (browsers add `expirationTime: null`). Returns
/// the endpoint and the keys re-encoded without padding.
pub fn subscription_from_value(value: &Value) -> Result<(String, WebKeys), SubscriptionError> {
    let Value::Object(obj) = value else {
        return Err(problem("subscription.endpoint", "is missing: `subscription` must be an object"));
    };
    let endpoint = string(obj, "endpoint", "subscription.endpoint")?;
    if let Some(reason) = endpoint_problem(endpoint) {
        return Err(problem("subscription.endpoint", reason));
    }
    let Some(Value::Object(keys)) = obj.get("keys") else {
        return Err(problem("subscription.keys", "must be an object with `p256dh` and `auth`"));
    };
    let keys = WebKeys {
        p256dh: string(keys, "p256dh", "subscription.keys.p256dh")?.to_owned(),
        auth: string(keys, "auth", "subscription.keys.auth")?.to_owned(),
    };
    keys.decode()?;
    let normal = |text: &str| URL_SAFE_NO_PAD_INDIFFERENT.decode(text.trim()).map(|b| URL_SAFE_NO_PAD.encode(b));
    let keys = WebKeys {
        p256dh: normal(&keys.p256dh).map_err(|_| wrong_length("subscription.keys.p256dh", P256DH_LEN))?,
        auth: normal(&keys.auth).map_err(|_| wrong_length("subscription.keys.auth", AUTH_LEN))?,
    };
    Ok((endpoint.to_owned(), keys))
}

fn string<'a>(obj: &'a Map<String, Value>, key: &str, field: &'static str) -> Result<&'a str, SubscriptionError> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(problem(field, "is missing")),
        Some(_) => Err(problem(field, "must be a string")),
    }
}

/// The subscription's JSON, as it is written back (`failed.jsonl`, ab-split).
#[derive(Serialize)]
pub(super) struct SubscriptionJson<'a> {
    pub endpoint: &'a str,
    pub keys: &'a WebKeys,
}

#[cfg(test)]
pub mod fixtures {
    /// A valid subscription's keys (RFC 8291 §5's user agent).
    pub const P256DH: &str = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    pub const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::fixtures::{AUTH, P256DH};
    use super::*;

    fn sub(endpoint: &str, p256dh: &str, auth: &str) -> Value {
        json!({"endpoint": endpoint, "expirationTime": null, "keys": {"p256dh": p256dh, "auth": auth}})
    }

    #[test]
    fn a_browser_subscription_is_read() {
        let (endpoint, keys) =
            subscription_from_value(&sub("https://fcm.googleapis.com/fcm/send/abc:APA91b", P256DH, AUTH)).unwrap();
        assert_eq!(endpoint, "https://fcm.googleapis.com/fcm/send/abc:APA91b");
        assert_eq!(keys, WebKeys { p256dh: P256DH.into(), auth: AUTH.into() });
        let padded = sub("https://push.example/x", &format!("{P256DH}="), &format!("{AUTH}=="));
        assert_eq!(subscription_from_value(&padded).unwrap().1.auth, AUTH, "stored without padding");
        assert!(subscription_from_value(&sub("http://127.0.0.1:9100/wp/1", P256DH, AUTH)).is_ok());
        assert!(subscription_from_value(&sub("http://[::1]:9100/wp/1", P256DH, AUTH)).is_ok());
        assert!(subscription_from_value(&sub("http://localhost/wp/1", P256DH, AUTH)).is_ok());
    }

    #[test]
    fn each_broken_rule_names_its_field() {
        let field = |v: Value| subscription_from_value(&v).unwrap_err().field;
        assert_eq!(field(sub("http://push.example/x", P256DH, AUTH)), "subscription.endpoint", "http only on loopback");
        assert_eq!(field(sub("ftp://push.example/x", P256DH, AUTH)), "subscription.endpoint");
        assert_eq!(field(sub("/relative", P256DH, AUTH)), "subscription.endpoint");
        assert_eq!(field(sub("https://user:pw@push.example/x", P256DH, AUTH)), "subscription.endpoint");
        for internal in
            ["https://10.0.0.7/x", "https://169.254.169.254/x", "https://192.168.1.1/x", "https://[fd00::1]/x"]
        {
            assert_eq!(field(sub(internal, P256DH, AUTH)), "subscription.endpoint", "{internal}");
        }
        assert_eq!(
            field(sub(&format!("https://p.example/{}", "a".repeat(2048)), P256DH, AUTH)),
            "subscription.endpoint"
        );
        assert_eq!(field(sub("https://p.example/x", &P256DH[..80], AUTH)), "subscription.keys.p256dh", "64 bytes");
        assert_eq!(field(sub("https://p.example/x", "not base64!", AUTH)), "subscription.keys.p256dh");
        let compressed = URL_SAFE_NO_PAD.encode([2u8; 65]);
        assert_eq!(field(sub("https://p.example/x", &compressed, AUTH)), "subscription.keys.p256dh");
        let off_curve = URL_SAFE_NO_PAD.encode([4u8; 65]);
        assert_eq!(field(sub("https://p.example/x", &off_curve, AUTH)), "subscription.keys.p256dh");
        assert_eq!(
            field(sub("https://p.example/x", P256DH, &URL_SAFE_NO_PAD.encode([1u8; 15]))),
            "subscription.keys.auth"
        );
        assert_eq!(field(json!({"endpoint": "https://p.example/x"})), "subscription.keys");
        assert_eq!(field(json!({"keys": {}})), "subscription.endpoint");
        assert_eq!(
            field(json!({"endpoint": "https://p.example/x", "keys": {"auth": AUTH}})),
            "subscription.keys.p256dh"
        );
        assert_eq!(field(json!("https://p.example/x")), "subscription.endpoint");
        let e = subscription_from_value(&sub("http://push.example/x", P256DH, AUTH)).unwrap_err();
        assert_eq!(e.to_string(), "`subscription.endpoint` must be an https URL (http only for a loopback host)");
    }
}
