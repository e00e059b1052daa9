//! Google's OAuth2 token endpoint for the JWT-bearer grant used by service
//! accounts, and the store of access tokens it has issued. Apart from the
//! `/token` handler because `App` holds it and the FCM handler consults it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD_INDIFFERENT;
use jsonwebtoken::{Algorithm, DecodingKey};
use rand::RngExt;
use serde::{Deserialize, Serialize};

pub const GRANT_TYPE_JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const SCOPE_FIREBASE_MESSAGING: &str = "https://www.googleapis.com/auth/firebase.messaging";
pub const SCOPE_CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Lifetime Google gives service-account access tokens.
pub const EXPIRES_IN_SECS: u64 = 3599;
/// Google caps an assertion's exp - iat at one hour.
const MAX_ASSERTION_LIFETIME_SECS: i64 = 3600;
const CLOCK_SKEW_SECS: i64 = 60;
const STORE_SWEEP_AT: usize = 10_000;

/// Google's error body: `{"error": "...", "error_description": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuthError {
    pub error: &'static str,
    pub error_description: String,
}

fn grant_error(description: impl Into<String>) -> OAuthError {
    OAuthError { error: "invalid_grant", error_description: description.into() }
}

#[derive(Debug, Clone, Serialize)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
    pub token_type: &'static str,
}

#[derive(Deserialize)]
struct AssertionHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    aud: Option<Vec<String>>,
    iat: Option<i64>,
    exp: Option<i64>,
    scope: Option<String>,
}

/// `aud` may be a string or an array of strings (RFC 7519).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    Ok(Option::<Aud>::deserialize(d)?.map(|a| match a {
        Aud::One(s) => vec![s],
        Aud::Many(v) => v,
    }))
}

fn decode_segment<T: serde::de::DeserializeOwned>(segment: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD_INDIFFERENT.decode(segment).ok()?;
    serde_json::from_slice(&bytes).ok()
}

static NEXT_ENDPOINT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    // (endpoint id, access token, expiry): FCM clients reuse one token for an hour.
    static LAST: RefCell<Option<(u64, Box<str>, Instant)>> = const { RefCell::new(None) };
}

pub struct TokenEndpoint {
    id: u64,
    key: DecodingKey,
    client_email: String,
    private_key_id: String,
    audiences: Vec<String>,
    issued: RwLock<HashMap<Box<str>, Instant>>,
}

impl TokenEndpoint {
    /// `audiences`: the token_uri values an assertion may name in `aud`.
    pub fn new(
        public_key_pem: &str,
        client_email: &str,
        private_key_id: &str,
        audiences: &[String],
    ) -> Result<Self, jsonwebtoken::errors::Error> {
        Ok(Self {
            id: NEXT_ENDPOINT_ID.fetch_add(1, Relaxed),
            key: DecodingKey::from_rsa_pem(public_key_pem.as_bytes())?,
            client_email: client_email.to_owned(),
            private_key_id: private_key_id.to_owned(),
            audiences: audiences.to_vec(),
            issued: RwLock::new(HashMap::new()),
        })
    }

    /// Handles an `application/x-www-form-urlencoded` token request body.
    pub fn exchange(&self, form: &[u8], now_secs: i64) -> Result<IssuedToken, OAuthError> {
        let mut grant_type = None;
        let mut assertion = None;
        for (k, v) in form_urlencoded::parse(form) {
            match k.as_ref() {
                "grant_type" => grant_type = Some(v.into_owned()),
                "assertion" => assertion = Some(v.into_owned()),
                _ => {}
            }
        }
        match grant_type.as_deref() {
            Some(GRANT_TYPE_JWT_BEARER) => {}
            Some(other) => {
                return Err(OAuthError {
                    error: "unsupported_grant_type",
                    error_description: format!("Invalid grant_type: {other}"),
                });
            }
            None => {
                return Err(OAuthError {
                    error: "invalid_request",
                    error_description: "Missing required parameter: grant_type".into(),
                });
            }
        }
        let Some(assertion) = assertion else {
            return Err(OAuthError {
                error: "invalid_request",
                error_description: "Missing required parameter: assertion".into(),
            });
        };
        self.check_assertion(&assertion, now_secs)?;
        Ok(self.issue())
    }

    /// Verified by hand rather than with `jsonwebtoken::decode`: Google's own client
    /// libraries (and gcp_auth) send base64url segments *with* padding, which Google
    /// accepts and jsonwebtoken's strict decoder does not.
    fn check_assertion(&self, assertion: &str, now_secs: i64) -> Result<(), OAuthError> {
        let malformed = || grant_error("Invalid JWT: not a well-formed JWT.");
        let mut segments = assertion.split('.');
        let (Some(h), Some(c), Some(sig), None) = (segments.next(), segments.next(), segments.next(), segments.next())
        else {
            return Err(malformed());
        };
        let header: AssertionHeader = decode_segment(h).ok_or_else(malformed)?;
        if header.alg != "RS256" {
            return Err(grant_error("Invalid JWT Signature."));
        }
        if let Some(kid) = &header.kid
            && *kid != self.private_key_id
        {
            return Err(grant_error("Invalid JWT Signature."));
        }
        let signing_input = &assertion.as_bytes()[..h.len() + 1 + c.len()];
        let signature_ok =
            jsonwebtoken::crypto::verify(sig.trim_end_matches('='), signing_input, &self.key, Algorithm::RS256)
                .unwrap_or(false);
        if !signature_ok {
            return Err(grant_error("Invalid JWT Signature."));
        }
        let claims: AssertionClaims = decode_segment(c).ok_or_else(malformed)?;
        let (Some(iss), Some(aud), Some(iat), Some(exp)) = (claims.iss, claims.aud, claims.iat, claims.exp) else {
            return Err(grant_error("Invalid JWT: missing required claim (iss, aud, iat, exp)."));
        };
        if iss != self.client_email {
            return Err(grant_error("Invalid grant: account not found"));
        }
        if !aud.iter().any(|a| self.audiences.iter().any(|ok| ok == a)) {
            return Err(grant_error("Invalid JWT: Failed audience check."));
        }
        let lifetime = exp - iat;
        if exp < now_secs - CLOCK_SKEW_SECS
            || iat > now_secs + CLOCK_SKEW_SECS
            || lifetime <= 0
            || lifetime > MAX_ASSERTION_LIFETIME_SECS
        {
            return Err(grant_error(
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
            ));
        }
        let scope_ok = claims.scope.as_deref().is_some_and(|s| {
            s.split_whitespace().any(|one| one == SCOPE_FIREBASE_MESSAGING || one == SCOPE_CLOUD_PLATFORM)
        });
        if !scope_ok {
            return Err(OAuthError {
                error: "invalid_scope",
                error_description: format!(
                    "Invalid OAuth scope or ID token audience provided: need {SCOPE_FIREBASE_MESSAGING} or {SCOPE_CLOUD_PLATFORM}."
                ),
            });
        }
        Ok(())
    }

    fn issue(&self) -> IssuedToken {
        let random: [u8; 24] = rand::rng().random();
        let mut access_token = String::with_capacity(4 + 48);
        access_token.push_str("sbx-");
        for b in random {
            access_token.push_str(&format!("{b:02x}"));
        }
        let expires = Instant::now() + Duration::from_secs(EXPIRES_IN_SECS);
        let mut issued = self.issued.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if issued.len() >= STORE_SWEEP_AT {
            let now = Instant::now();
            issued.retain(|_, exp| *exp > now);
        }
        issued.insert(access_token.as_str().into(), expires);
        IssuedToken { access_token, expires_in: EXPIRES_IN_SECS, token_type: "Bearer" }
    }

    /// True for an access token this endpoint issued that has not expired yet.
    pub fn is_valid_access_token(&self, token: &str) -> bool {
        let now = Instant::now();
        let cached = LAST.with(|last| match &*last.borrow() {
            Some((id, t, exp)) if *id == self.id && **t == *token => Some(*exp),
            _ => None,
        });
        let expiry = match cached {
            Some(exp) => Some(exp),
            None => {
                let found = self.issued.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(token).copied();
                if let Some(exp) = found {
                    LAST.with(|last| *last.borrow_mut() = Some((self.id, token.into(), exp)));
                }
                found
            }
        };
        expiry.is_some_and(|exp| exp > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http_util;
    use jsonwebtoken::{EncodingKey, Header};
    use rcgen::{KeyPair, PKCS_RSA_SHA256};

    const NOW: i64 = 1_700_000_000;
    const EMAIL: &str = "pushbatch@p.iam.gserviceaccount.com";
    const AUD: &str = "http://127.0.0.1:9/token";

    #[derive(Serialize)]
    struct Mint<'a> {
        iss: &'a str,
        aud: &'a str,
        scope: &'a str,
        iat: i64,
        exp: i64,
    }

    struct Fixture {
        key: KeyPair,
        endpoint: TokenEndpoint,
    }

    fn fixture() -> Fixture {
        let key = KeyPair::generate_for(&PKCS_RSA_SHA256).expect("rsa");
        let endpoint = TokenEndpoint::new(&key.public_key_pem(), EMAIL, "kid1", &[AUD.to_owned()]).expect("endpoint");
        Fixture { key, endpoint }
    }

    fn assertion(key: &KeyPair, claims: &Mint<'_>) -> String {
        let enc = EncodingKey::from_rsa_pem(key.serialize_pem().as_bytes()).expect("enc");
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &enc).expect("encode")
    }

    fn form(assertion: &str) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", GRANT_TYPE_JWT_BEARER)
            .append_pair("assertion", assertion)
            .finish()
            .into_bytes()
    }

    fn good<'a>() -> Mint<'a> {
        let now = http_util::now_secs();
        Mint { iss: EMAIL, aud: AUD, scope: SCOPE_FIREBASE_MESSAGING, iat: now, exp: now + 3595 }
    }

    #[test]
    fn issues_and_remembers_tokens() {
        let f = fixture();
        let now = http_util::now_secs();
        let issued = f.endpoint.exchange(&form(&assertion(&f.key, &good())), now).expect("issued");
        assert!(issued.access_token.starts_with("sbx-"));
        assert_eq!(issued.expires_in, 3599);
        assert!(f.endpoint.is_valid_access_token(&issued.access_token));
        assert!(f.endpoint.is_valid_access_token(&issued.access_token));
        assert!(!f.endpoint.is_valid_access_token("sbx-unknown"));
    }

    #[test]
    fn refuses_bad_assertions() {
        let f = fixture();
        let now = http_util::now_secs();
        let other = KeyPair::generate_for(&PKCS_RSA_SHA256).expect("rsa");
        let err = f.endpoint.exchange(&form(&assertion(&other, &good())), now).expect_err("wrong key");
        assert_eq!(err.error, "invalid_grant");
        assert_eq!(err.error_description, "Invalid JWT Signature.");

        let wrong_aud = Mint { aud: "https://oauth2.googleapis.com/token", ..good() };
        assert_eq!(
            f.endpoint.exchange(&form(&assertion(&f.key, &wrong_aud)), now).expect_err("aud").error,
            "invalid_grant"
        );
        let wrong_scope = Mint { scope: "https://www.googleapis.com/auth/devstorage.read_only", ..good() };
        assert_eq!(
            f.endpoint.exchange(&form(&assertion(&f.key, &wrong_scope)), now).expect_err("scope").error,
            "invalid_scope"
        );
        let too_long = Mint { exp: good().iat + 7200, ..good() };
        assert!(f.endpoint.exchange(&form(&assertion(&f.key, &too_long)), now).is_err());
        let expired = Mint { iat: NOW - 7200, exp: NOW - 3600, ..good() };
        assert!(f.endpoint.exchange(&form(&assertion(&f.key, &expired)), now).is_err());
        let err = f.endpoint.exchange(b"grant_type=client_credentials", now).expect_err("grant");
        assert_eq!(err.error, "unsupported_grant_type");
    }

    #[test]
    fn accepts_padded_segments_like_googles_libraries() {
        use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
        let f = fixture();
        let mut jwt = String::new();
        URL_SAFE.encode_string(r#"{"alg":"RS256","typ":"JWT"}"#, &mut jwt);
        jwt.push('.');
        URL_SAFE.encode_string(serde_json::to_vec(&good()).expect("claims"), &mut jwt);
        let enc = EncodingKey::from_rsa_pem(f.key.serialize_pem().as_bytes()).expect("enc");
        let sig = jsonwebtoken::crypto::sign(jwt.as_bytes(), &enc, Algorithm::RS256).expect("sign");
        jwt.push('.');
        URL_SAFE.encode_string(URL_SAFE_NO_PAD.decode(sig).expect("b64"), &mut jwt);
        assert!(jwt.ends_with('='), "a 2048-bit signature pads: {jwt}");
        assert!(f.endpoint.exchange(&form(&jwt), http_util::now_secs()).is_ok());
    }

    #[test]
    fn cloud_platform_scope_is_enough() {
        let f = fixture();
        let claims = Mint { scope: "openid https://www.googleapis.com/auth/cloud-platform", ..good() };
        assert!(f.endpoint.exchange(&form(&assertion(&f.key, &claims)), http_util::now_secs()).is_ok());
    }
}
