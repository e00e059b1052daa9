//! VAPID (RFC 8292): `Authorization: vapid t=<JWT>, k=<public key>`, an ES256
//! JWT whose `aud` is the push service's origin.
//!
//! Signed here with jsonwebtoken rather than by web-push-native: its
//! `VapidSignature` builds `aud` from the host alone, and RFC 8292 §2 says
//! the origin, whose port is part of it (the local sandbox listens on one;
//! the real services use 443, where the two agree).

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE_NO_PAD, URL_SAFE_NO_PAD_INDIFFERENT};
use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use web_push_native::p256::SecretKey;
use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint;
use web_push_native::p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};

/// How long a signed JWT is valid: RFC 8292 allows at most 24 hours.
pub const JWT_LIFETIME_SECS: u64 = 12 * 3600;
/// A cached JWT is signed again when it has less than this left, so that no
/// request carries one about to expire.
const RENEW_BEFORE_SECS: u64 = 3600;
/// Origins whose JWT is kept; past this the cache starts over (endpoints
/// come from browsers, so their number of origins is not ours to bound).
const MAX_CACHED_ORIGINS: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum VapidError {
    #[error("the VAPID key is neither a P-256 private key in PEM (PKCS#8 or SEC1) nor a base64url 32-byte private key")]
    Key,
    #[error("WEBPUSH_SUBJECT must be a mailto: or https: URI (RFC 8292 §2.1), got {0:?}")]
    Subject(String),
    #[error("cannot sign the VAPID JWT: {0}")]
    Sign(#[source] jsonwebtoken::errors::Error),
    #[error("the VAPID header is not a valid header value")]
    Header(#[source] http::header::InvalidHeaderValue),
}

/// The application server's key pair.
pub struct VapidKey {
    encoding: EncodingKey,
    /// base64url of the uncompressed public key: the `k` parameter, and the
    /// `applicationServerKey` a site subscribes with.
    public: String,
}

impl VapidKey {
    /// A PEM private key (`BEGIN PRIVATE KEY` or `BEGIN EC PRIVATE KEY`), or
    /// the base64url 32-byte scalar that web-push libraries generate.
    pub fn parse(secret: &[u8]) -> Result<Self, VapidError> {
        let text = std::str::from_utf8(secret).map_err(|_| VapidError::Key)?.trim();
        let secret = if text.contains("-----BEGIN EC PRIVATE KEY-----") {
            SecretKey::from_sec1_pem(text).map_err(|_| VapidError::Key)?
        } else if text.starts_with("-----BEGIN") {
            SecretKey::from_pkcs8_pem(text).map_err(|_| VapidError::Key)?
        } else {
            let bytes = URL_SAFE_NO_PAD_INDIFFERENT.decode(text).map_err(|_| VapidError::Key)?;
            SecretKey::from_slice(&bytes).map_err(|_| VapidError::Key)?
        };
        let der = secret.to_pkcs8_der().map_err(|_| VapidError::Key)?;
        let public = URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes());
        Ok(Self { encoding: EncodingKey::from_ec_der(der.as_bytes()), public })
    }

    pub fn public_key(&self) -> &str {
        &self.public
    }
}

/// Signs a JWT per push-service origin and reuses it until it nears expiry.
pub struct VapidSigner {
    key: VapidKey,
    subject: String,
    cache: Mutex<HashMap<String, (HeaderValue, u64)>>,
}

/// RFC 8292 §2.1: `sub` is a contact URI, `mailto:` or `https:`; push
/// services (Apple's among them) refuse a JWT without one.
pub fn subject_is_contact(subject: &str) -> bool {
    let contact = subject.strip_prefix("mailto:").or_else(|| subject.strip_prefix("https://"));
    contact.is_some_and(|c| !c.is_empty())
}

impl VapidSigner {
    pub fn new(key: VapidKey, subject: &str) -> Result<Self, VapidError> {
        if !subject_is_contact(subject) {
            return Err(VapidError::Subject(subject.to_owned()));
        }
        Ok(Self { key, subject: subject.to_owned(), cache: Mutex::default() })
    }

    pub fn public_key(&self) -> &str {
        self.key.public_key()
    }

    /// The `Authorization` value for a push service at `origin`
    /// (`https://host[:port]`), at `now` (seconds since 1970).
    pub fn authorization(&self, origin: &str, now: u64) -> Result<HeaderValue, VapidError> {
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((value, exp)) = cache.get(origin)
                && *exp > now + RENEW_BEFORE_SECS
            {
                return Ok(value.clone());
            }
        }
        let exp = now + JWT_LIFETIME_SECS;
        let value = self.sign(origin, exp)?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED_ORIGINS {
            cache.clear();
        }
        cache.insert(origin.to_owned(), (value.clone(), exp));
        Ok(value)
    }

    /// After a push service refused the JWT: the next request signs anew.
    pub fn forget(&self) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn sign(&self, origin: &str, exp: u64) -> Result<HeaderValue, VapidError> {
        #[derive(serde::Serialize)]
        struct Claims<'a> {
            aud: &'a str,
            exp: u64,
            sub: &'a str,
        }
        let claims = Claims { aud: origin, exp, sub: &self.subject };
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.key.encoding)
            .map_err(VapidError::Sign)?;
        let mut value =
            HeaderValue::from_str(&format!("vapid t={jwt}, k={}", self.key.public)).map_err(VapidError::Header)?;
        value.set_sensitive(true);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;

    /// web-push-native's documented example key: any P-256 scalar serves a test.
    const SCALAR: &str = "RS0WdYWWo1HajXg3NZR1olzCf31i-ZBGDkFyCs7j1jw";

    fn signer() -> VapidSigner {
        VapidSigner::new(VapidKey::parse(SCALAR.as_bytes()).unwrap(), "mailto:ops@example.com").unwrap()
    }

    fn claims(header: &HeaderValue, public: &str) -> serde_json::Value {
        let text = header.to_str().unwrap();
        let (t, k) = text.strip_prefix("vapid t=").unwrap().split_once(", k=").unwrap();
        assert_eq!(k, public);
        let point = URL_SAFE_NO_PAD.decode(k).unwrap();
        let (x, y) = (URL_SAFE_NO_PAD.encode(&point[1..33]), URL_SAFE_NO_PAD.encode(&point[33..]));
        let mut v = Validation::new(Algorithm::ES256);
        v.validate_exp = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        let key = DecodingKey::from_ec_components(&x, &y).unwrap();
        jsonwebtoken::decode::<serde_json::Value>(t, &key, &v).unwrap().claims
    }

    #[test]
    fn the_jwt_names_the_origin_with_its_port() {
        let s = signer();
        let now = 1_800_000_000;
        let h = s.authorization("https://127.0.0.1:9443", now).unwrap();
        let c = claims(&h, s.public_key());
        assert_eq!(c["aud"], "https://127.0.0.1:9443");
        assert_eq!(c["sub"], "mailto:ops@example.com");
        assert_eq!(c["exp"], now + JWT_LIFETIME_SECS);
        assert_eq!(URL_SAFE_NO_PAD.decode(s.public_key()).unwrap().len(), 65);
    }

    #[test]
    fn a_jwt_is_reused_per_origin_until_it_nears_expiry() {
        let s = signer();
        let now = 1_800_000_000;
        let first = s.authorization("https://a.example", now).unwrap();
        assert_eq!(s.authorization("https://a.example", now + 3600).unwrap(), first);
        assert_ne!(s.authorization("https://b.example", now).unwrap(), first, "another origin, another aud");
        let later = s.authorization("https://a.example", now + JWT_LIFETIME_SECS - 60).unwrap();
        assert_ne!(later, first, "renewed before it expires");
        assert_eq!(claims(&later, s.public_key())["exp"], now + 2 * JWT_LIFETIME_SECS - 60);
        s.forget();
        let again = s.authorization("https://a.example", now + JWT_LIFETIME_SECS - 60).unwrap();
        assert_eq!(claims(&again, s.public_key())["aud"], "https://a.example");
    }

    #[test]
    fn keys_in_every_usual_form() {
        let secret = SecretKey::from_slice(&URL_SAFE_NO_PAD.decode(SCALAR).unwrap()).unwrap();
        let pkcs8 = secret.to_pkcs8_pem(Default::default()).unwrap();
        let from_pem = VapidKey::parse(pkcs8.as_bytes()).unwrap();
        let public = VapidKey::parse(SCALAR.as_bytes()).unwrap().public_key().to_owned();
        assert_eq!(from_pem.public_key(), public);
        let sec1 = secret.to_sec1_pem(Default::default()).unwrap();
        assert!(sec1.contains("BEGIN EC PRIVATE KEY"), "what openssl ecparam writes");
        assert_eq!(VapidKey::parse(sec1.as_bytes()).unwrap().public_key(), public);
        assert!(matches!(VapidKey::parse(b"not a key"), Err(VapidError::Key)));
        assert!(matches!(VapidKey::parse(&[0xff, 0xfe]), Err(VapidError::Key)));
        for bad in ["ops@example.com", "http://example.com", "mailto:", ""] {
            let key = VapidKey::parse(SCALAR.as_bytes()).unwrap();
            assert!(matches!(VapidSigner::new(key, bad), Err(VapidError::Subject(_))), "{bad}");
        }
    }
}
