//! VAPID (RFC 8292): `Authorization: vapid t=<JWT>, k=<application server key>`.
//! The clock is passed in, so the time rules are tested without waiting.

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE_NO_PAD, URL_SAFE_NO_PAD_INDIFFERENT};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::reasons::WebPushReason;

/// RFC 8292 §2: "exp" is "no more than 24 hours from the time of the request".
pub const MAX_LIFETIME_SECS: i64 = 24 * 60 * 60;
/// An uncompressed P-256 point: 0x04, x, y (RFC 8292 §3.2, X9.62).
pub const POINT_LEN: usize = 65;

pub type PublicKey = [u8; POINT_LEN];

/// Who signed a message that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signer {
    pub sub: String,
    pub key: PublicKey,
}

/// A refusal and the sentence that tells the sender what to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason:?}: {message}")]
pub struct Refused {
    pub reason: WebPushReason,
    pub message: String,
}

fn refused(reason: WebPushReason, message: impl Into<String>) -> Refused {
    Refused { reason, message: message.into() }
}

/// A base64url P-256 public key (padded or not), as `k`, `p256dh` and an
/// applicationServerKey are written.
pub fn decode_point(text: &str) -> Option<PublicKey> {
    let bytes = URL_SAFE_NO_PAD_INDIFFERENT.decode(text.trim()).ok()?;
    let point: PublicKey = bytes.try_into().ok()?;
    (point[0] == 0x04).then_some(point)
}

/// `origin` is the push resource's origin, which `aud` must name (RFC 8292 §2);
/// `restricted_to` is the applicationServerKey the subscription was created with.
pub fn verify(
    header: Option<&[u8]>,
    origin: &str,
    restricted_to: Option<&PublicKey>,
    now_secs: i64,
) -> Result<Signer, Refused> {
    let header = header.ok_or_else(|| refused(WebPushReason::MissingVapid, "no Authorization header"))?;
    let (token, key_text) = parse_header(header)?;
    let key = decode_point(key_text)
        .ok_or_else(|| refused(WebPushReason::MalformedVapid, "k is not a base64url uncompressed P-256 public key"))?;
    if restricted_to.is_some_and(|r| *r != key) {
        return Err(refused(
            WebPushReason::VapidKeyMismatch,
            "k is not the applicationServerKey this subscription was created with",
        ));
    }
    let claims = verify_signature(token, &key)?;
    match claims.get("aud").and_then(Value::as_str) {
        Some(aud) if aud == origin => {}
        other => {
            return Err(refused(
                WebPushReason::VapidAudience,
                format!("aud is {other:?}; it must be the push resource's origin, {origin:?}"),
            ));
        }
    }
    let exp = claims.get("exp").and_then(Value::as_i64).ok_or_else(|| {
        refused(WebPushReason::VapidExpired, "the JWT has no integer exp, which RFC 8292 §2 requires")
    })?;
    if exp <= now_secs {
        return Err(refused(WebPushReason::VapidExpired, format!("exp {exp} is not after now ({now_secs})")));
    }
    if exp - now_secs > MAX_LIFETIME_SECS {
        return Err(refused(
            WebPushReason::VapidExpiryTooFar,
            format!("exp {exp} is more than 24 hours after now ({now_secs})"),
        ));
    }
    // RFC 8292 §2.1 asks for a contact URI ("mailto:" or "https:"); the sandbox
    // requires it, as Apple's push service does.
    let sub = claims.get("sub").and_then(Value::as_str).unwrap_or("");
    let contact = sub.strip_prefix("mailto:").or_else(|| sub.strip_prefix("https:"));
    if contact.is_none_or(str::is_empty) {
        return Err(refused(WebPushReason::VapidSubject, format!("sub {sub:?} is not a mailto: or https: URI")));
    }
    Ok(Signer { sub: sub.to_owned(), key })
}

/// `vapid t=<token>, k=<key>`: the scheme is case-insensitive and the parameters
/// may come in either order, quoted or not (RFC 9110 §11.4 auth-params).
fn parse_header(header: &[u8]) -> Result<(&str, &str), Refused> {
    let malformed = || refused(WebPushReason::MalformedVapid, "Authorization is not `vapid t=<JWT>, k=<key>`");
    let text = std::str::from_utf8(header).map_err(|_| malformed())?.trim();
    let (scheme, params) = text.split_once(char::is_whitespace).ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("vapid") {
        return Err(refused(WebPushReason::MissingVapid, format!("Authorization scheme {scheme:?} is not vapid")));
    }
    let (mut token, mut key) = (None, None);
    for param in params.split(',') {
        let (name, value) = param.split_once('=').ok_or_else(malformed)?;
        let value = value.trim();
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
        match name.trim().to_ascii_lowercase().as_str() {
            "t" => token = Some(value),
            "k" => key = Some(value),
            _ => {}
        }
    }
    match (token, key) {
        (Some(t), Some(k)) if !t.is_empty() && !k.is_empty() => Ok((t, k)),
        _ => Err(malformed()),
    }
}

/// RFC 8292 §2: the JWT is signed with ES256 by the key in `k`. The claims are
/// checked by the caller against its clock, so none are validated here.
fn verify_signature(token: &str, key: &PublicKey) -> Result<Map<String, Value>, Refused> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|e| refused(WebPushReason::MalformedVapid, format!("t is not a JWT: {e}")))?;
    if header.alg != Algorithm::ES256 {
        return Err(refused(WebPushReason::VapidSignature, format!("the JWT is {:?}; VAPID uses ES256", header.alg)));
    }
    let (x, y) = (URL_SAFE_NO_PAD.encode(&key[1..33]), URL_SAFE_NO_PAD.encode(&key[33..]));
    let decoding = DecodingKey::from_ec_components(&x, &y)
        .map_err(|e| refused(WebPushReason::MalformedVapid, format!("k is not usable: {e}")))?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Map<String, Value>>(token, &decoding, &validation)
        .map(|data| data.claims)
        .map_err(|e| refused(WebPushReason::VapidSignature, format!("the JWT does not verify with k: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};

    const ORIGIN: &str = "https://127.0.0.1:8443";
    const NOW: i64 = 1_800_000_000;

    struct AppServer {
        pem: String,
        key_b64: String,
        key: PublicKey,
    }

    fn app_server() -> AppServer {
        let pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let key: PublicKey = pair.public_key_raw().try_into().expect("an uncompressed P-256 point");
        AppServer { pem: pair.serialize_pem(), key_b64: URL_SAFE_NO_PAD.encode(key), key }
    }

    fn jwt(server: &AppServer, claims: serde_json::Value) -> String {
        let enc = EncodingKey::from_ec_pem(server.pem.as_bytes()).expect("enc");
        jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &enc).expect("sign")
    }

    fn header(server: &AppServer, claims: serde_json::Value) -> String {
        format!("vapid t={}, k={}", jwt(server, claims), server.key_b64)
    }

    fn good_claims() -> serde_json::Value {
        serde_json::json!({"aud": ORIGIN, "exp": NOW + 12 * 3600, "sub": "mailto:ops@example.com"})
    }

    fn reason(server: &AppServer, claims: serde_json::Value) -> Result<Signer, WebPushReason> {
        verify(Some(header(server, claims).as_bytes()), ORIGIN, None, NOW).map_err(|r| r.reason)
    }

    #[test]
    fn accepts_a_good_jwt() {
        let s = app_server();
        let signer = verify(Some(header(&s, good_claims()).as_bytes()), ORIGIN, Some(&s.key), NOW).expect("valid");
        assert_eq!(signer, Signer { sub: "mailto:ops@example.com".into(), key: s.key });
        let mut claims = good_claims();
        claims["sub"] = "https://example.com/contact".into();
        claims["exp"] = (NOW + MAX_LIFETIME_SECS).into();
        assert!(reason(&s, claims).is_ok(), "exactly 24 hours ahead is allowed");
        let quoted = format!("Vapid k=\"{}\", t={}", s.key_b64, jwt(&s, good_claims()));
        assert!(verify(Some(quoted.as_bytes()), ORIGIN, None, NOW).is_ok(), "{quoted}");
    }

    #[test]
    fn refusals() {
        let s = app_server();
        let with = |k: &str, v: serde_json::Value| {
            let mut c = good_claims();
            c[k] = v;
            reason(&s, c)
        };
        assert_eq!(with("aud", "https://127.0.0.1".into()), Err(WebPushReason::VapidAudience), "port dropped");
        assert_eq!(with("aud", "https://push.example.net".into()), Err(WebPushReason::VapidAudience));
        assert_eq!(with("exp", (NOW - 1).into()), Err(WebPushReason::VapidExpired));
        assert_eq!(with("exp", NOW.into()), Err(WebPushReason::VapidExpired));
        assert_eq!(with("exp", (NOW + MAX_LIFETIME_SECS + 1).into()), Err(WebPushReason::VapidExpiryTooFar));
        assert_eq!(with("exp", "tomorrow".into()), Err(WebPushReason::VapidExpired));
        assert_eq!(with("sub", "ops@example.com".into()), Err(WebPushReason::VapidSubject));
        assert_eq!(with("sub", "http://example.com".into()), Err(WebPushReason::VapidSubject));
        let mut no_sub = good_claims();
        no_sub.as_object_mut().expect("object").remove("sub");
        assert_eq!(reason(&s, no_sub), Err(WebPushReason::VapidSubject));

        let other = app_server();
        let forged = header(&other, good_claims()).replace(&other.key_b64, &s.key_b64);
        assert_eq!(
            verify(Some(forged.as_bytes()), ORIGIN, None, NOW).map_err(|r| r.reason),
            Err(WebPushReason::VapidSignature)
        );
        let good = header(&s, good_claims());
        assert_eq!(
            verify(Some(good.as_bytes()), ORIGIN, Some(&other.key), NOW).map_err(|r| r.reason),
            Err(WebPushReason::VapidKeyMismatch)
        );
    }

    #[test]
    fn header_shapes() {
        let s = app_server();
        let check = |h: Option<&str>| verify(h.map(str::as_bytes), ORIGIN, None, NOW).map_err(|r| r.reason);
        assert_eq!(check(None), Err(WebPushReason::MissingVapid));
        assert_eq!(check(Some("Bearer abc")), Err(WebPushReason::MissingVapid));
        assert_eq!(check(Some("vapid t=abc")), Err(WebPushReason::MalformedVapid), "no k");
        let bad_key = format!("vapid t=a.b.c, k={}", URL_SAFE_NO_PAD.encode([4u8; 33]));
        assert_eq!(check(Some(&bad_key)), Err(WebPushReason::MalformedVapid));
        let not_jwt = format!("vapid t=nope, k={}", s.key_b64);
        assert_eq!(check(Some(&not_jwt)), Err(WebPushReason::MalformedVapid));
        assert_eq!(decode_point(&format!("{}=", s.key_b64)), Some(s.key), "padding is tolerated");
    }
}
