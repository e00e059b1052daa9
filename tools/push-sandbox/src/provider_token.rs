//! APNs provider-token (ES256 JWT) checks. Providers reuse one token for 20-60 minutes, so
//! verdicts are cached per token string: a thread-local last-token slot answers almost
//! every request without a lock, and a shared map catches the rest.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::reasons::ApnsReason;

/// Apple refuses provider tokens whose `iat` is more than an hour old.
pub const MAX_TOKEN_AGE_SECS: i64 = 3600;
/// Bound on the shared cache; a client minting a token per request must not grow it forever.
const CACHE_LIMIT: usize = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Signed { iat: i64 },
    Invalid,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    iat: i64,
}

static NEXT_VERIFIER_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    // (verifier id, token, verdict): the id keeps two sandboxes in one process apart.
    static LAST: RefCell<Option<(u64, Box<str>, Verdict)>> = const { RefCell::new(None) };
}

pub struct ProviderTokenVerifier {
    id: u64,
    key: DecodingKey,
    key_id: String,
    team_id: String,
    validation: Validation,
    cache: RwLock<HashMap<Box<str>, Verdict>>,
}

impl ProviderTokenVerifier {
    pub fn new(public_key_pem: &str, key_id: &str, team_id: &str) -> Result<Self, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::ES256);
        // APNs tokens carry no exp/aud; age is checked against iat below.
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        Ok(Self {
            id: NEXT_VERIFIER_ID.fetch_add(1, Relaxed),
            key: DecodingKey::from_ec_pem(public_key_pem.as_bytes())?,
            key_id: key_id.to_owned(),
            team_id: team_id.to_owned(),
            validation,
            cache: RwLock::new(HashMap::new()),
        })
    }

    /// `authorization` header value → Ok, or the APNs reason to refuse with.
    pub fn check_header(&self, header: Option<&[u8]>, now_secs: i64) -> Result<(), ApnsReason> {
        let Some(value) = header else {
            return Err(ApnsReason::MissingProviderToken);
        };
        let token = value
            .strip_prefix(b"bearer ")
            .or_else(|| value.strip_prefix(b"Bearer "))
            .and_then(|t| std::str::from_utf8(t).ok())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApnsReason::InvalidProviderToken)?;
        self.check_token(token, now_secs)
    }

    pub fn check_token(&self, token: &str, now_secs: i64) -> Result<(), ApnsReason> {
        match self.verdict(token) {
            Verdict::Invalid => Err(ApnsReason::InvalidProviderToken),
            Verdict::Signed { iat } if now_secs - iat > MAX_TOKEN_AGE_SECS => Err(ApnsReason::ExpiredProviderToken),
            Verdict::Signed { .. } => Ok(()),
        }
    }

    fn verdict(&self, token: &str) -> Verdict {
        let hit = LAST.with(|last| match &*last.borrow() {
            Some((id, t, v)) if *id == self.id && **t == *token => Some(*v),
            _ => None,
        });
        if let Some(v) = hit {
            return v;
        }
        let shared = self.cache.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(token).copied();
        let verdict = match shared {
            Some(v) => v,
            None => {
                let v = self.verify(token);
                let mut cache = self.cache.write().unwrap_or_else(|poisoned| poisoned.into_inner());
                if cache.len() >= CACHE_LIMIT {
                    cache.clear();
                }
                cache.insert(token.into(), v);
                v
            }
        };
        LAST.with(|last| *last.borrow_mut() = Some((self.id, token.into(), verdict)));
        verdict
    }

    /// The expensive part: header, signature and claims.
    fn verify(&self, token: &str) -> Verdict {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return Verdict::Invalid;
        };
        if header.alg != Algorithm::ES256 || header.kid.as_deref() != Some(self.key_id.as_str()) {
            return Verdict::Invalid;
        }
        match jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation) {
            Ok(data) if data.claims.iss == self.team_id => Verdict::Signed { iat: data.claims.iat },
            _ => Verdict::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256};
    use serde::Serialize;

    #[derive(Serialize)]
    struct Mint<'a> {
        iss: &'a str,
        iat: i64,
    }

    fn key() -> KeyPair {
        KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key")
    }

    fn mint(key: &KeyPair, kid: &str, iss: &str, iat: i64) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        let enc = EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).expect("enc");
        jsonwebtoken::encode(&header, &Mint { iss, iat }, &enc).expect("encode")
    }

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn accepts_good_token_and_caches() {
        let k = key();
        let v = ProviderTokenVerifier::new(&k.public_key_pem(), "KID", "TEAM").expect("v");
        let t = mint(&k, "KID", "TEAM", NOW - 10);
        let header = format!("bearer {t}");
        assert_eq!(v.check_header(Some(header.as_bytes()), NOW), Ok(()));
        assert_eq!(v.check_header(Some(header.as_bytes()), NOW), Ok(()));
        assert_eq!(v.cache.read().expect("lock").len(), 1);
        // The same cached token expires once it is an hour old.
        assert_eq!(v.check_token(&t, NOW - 10 + 3601), Err(ApnsReason::ExpiredProviderToken));
    }

    #[test]
    fn refusals() {
        let k = key();
        let v = ProviderTokenVerifier::new(&k.public_key_pem(), "KID", "TEAM").expect("v");
        assert_eq!(v.check_header(None, NOW), Err(ApnsReason::MissingProviderToken));
        assert_eq!(v.check_header(Some(b"basic abc"), NOW), Err(ApnsReason::InvalidProviderToken));
        assert_eq!(v.check_token("not.a.jwt", NOW), Err(ApnsReason::InvalidProviderToken));
        assert_eq!(
            v.check_token(&mint(&k, "OTHER", "TEAM", NOW), NOW),
            Err(ApnsReason::InvalidProviderToken),
            "wrong kid"
        );
        assert_eq!(
            v.check_token(&mint(&k, "KID", "OTHERTEAM", NOW), NOW),
            Err(ApnsReason::InvalidProviderToken),
            "wrong iss"
        );
        assert_eq!(
            v.check_token(&mint(&key(), "KID", "TEAM", NOW), NOW),
            Err(ApnsReason::InvalidProviderToken),
            "signed by another key"
        );
        assert_eq!(v.check_token(&mint(&k, "KID", "TEAM", NOW - 3700), NOW), Err(ApnsReason::ExpiredProviderToken));
    }

    #[test]
    fn missing_iat_is_invalid() {
        #[derive(Serialize)]
        struct NoIat<'a> {
            iss: &'a str,
        }
        let k = key();
        let v = ProviderTokenVerifier::new(&k.public_key_pem(), "KID", "TEAM").expect("v");
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("KID".into());
        let enc = EncodingKey::from_ec_pem(k.serialize_pem().as_bytes()).expect("enc");
        let t = jsonwebtoken::encode(&header, &NoIat { iss: "TEAM" }, &enc).expect("encode");
        assert_eq!(v.check_token(&t, NOW), Err(ApnsReason::InvalidProviderToken));
    }
}
