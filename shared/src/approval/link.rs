//! Signed links: HMAC-SHA256 over the request id, the action, the approver,
//! the expiry and a nonce. The nonce makes every link distinct, so a used
//! link can be recorded (single use) without refusing its siblings.
//!
//! A token is `base64url(payload) "." base64url(mac)`; the payload is the
//! JSON of [`Link`], and the MAC covers its exact bytes, so any change to
//! any field (or to the encoding) fails verification.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Shorter keys are refused at cold start: HMAC-SHA256 wants at least the
/// hash's size in secret material.
pub const MIN_KEY_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Approve,
    Reject,
    Test,
}

impl Action {
    pub const ALL: [Action; 3] = [Action::Approve, Action::Reject, Action::Test];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Test => "test",
        }
    }
}

/// What a link lets its holder do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    #[serde(rename = "r")]
    pub request_id: String,
    #[serde(rename = "a")]
    pub action: Action,
    #[serde(rename = "e")]
    pub approver: String,
    /// Unix seconds.
    #[serde(rename = "x")]
    pub expires_at: i64,
    #[serde(rename = "n")]
    pub nonce: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is malformed")]
    Malformed,
    #[error("the link's signature is not valid")]
    BadSignature,
    #[error("the link expired")]
    Expired,
    #[error("the signing key must be at least {MIN_KEY_BYTES} bytes")]
    ShortKey,
}

/// Signs and verifies links with one key.
#[derive(Clone)]
pub struct LinkSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for LinkSigner {
    // Never print the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner(..)")
    }
}

impl LinkSigner {
    /// Surrounding whitespace (a trailing newline in a key file) is not key.
    pub fn new(key: &[u8]) -> Result<Self, LinkError> {
        let key = key.trim_ascii();
        if key.len() < MIN_KEY_BYTES {
            return Err(LinkError::ShortKey);
        }
        Ok(Self { key: key.to_vec() })
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length; this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!())
    }

    pub fn sign(&self, link: &Link) -> String {
        // Strings and numbers only: serde_json cannot fail to encode them.
        let payload = serde_json::to_vec(link).expect("a link encodes as JSON");
        let mut mac = self.mac();
        mac.update(&payload);
        let tag = mac.finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(&payload), URL_SAFE_NO_PAD.encode(tag))
    }

    /// The link a token carries, if the signature holds; expiry is checked
    /// separately so a page can say "expired" rather than "invalid".
    pub fn verify(&self, token: &str) -> Result<Link, LinkError> {
        let (payload, tag) = token.split_once('.').ok_or(LinkError::Malformed)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| LinkError::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| LinkError::Malformed)?;
        let mut mac = self.mac();
        mac.update(&payload);
        // verify_slice compares in constant time.
        mac.verify_slice(&tag).map_err(|_| LinkError::BadSignature)?;
        serde_json::from_slice(&payload).map_err(|_| LinkError::Malformed)
    }

    /// Verifies the signature and the expiry at `now` (Unix seconds).
    pub fn verify_at(&self, token: &str, now: i64) -> Result<Link, LinkError> {
        let link = self.verify(token)?;
        if now >= link.expires_at {
            return Err(LinkError::Expired);
        }
        Ok(link)
    }
}

impl Link {
    /// A fresh link with a random nonce.
    pub fn new(request_id: &str, action: Action, approver: &str, expires_at: i64) -> Self {
        Self {
            request_id: request_id.to_owned(),
            action,
            approver: approver.to_owned(),
            expires_at,
            nonce: uuid::Uuid::new_v4().simple().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> LinkSigner {
        LinkSigner::new(&[7u8; 32]).unwrap()
    }

    fn link() -> Link {
        Link::new("r1", Action::Approve, "ann@example.com", 2_000)
    }

    #[test]
    fn round_trips_and_checks_expiry() {
        let s = signer();
        let l = link();
        let token = s.sign(&l);
        assert_eq!(s.verify_at(&token, 1_999).unwrap(), l);
        assert_eq!(s.verify_at(&token, 2_000), Err(LinkError::Expired));
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')));
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let s = signer();
        let token = s.sign(&link());
        let (payload, tag) = token.split_once('.').unwrap();
        // Same MAC, different payload: another approver, action or request.
        for forged in [
            Link { approver: "eve@example.com".into(), ..link() },
            Link { action: Action::Reject, ..link() },
            Link { request_id: "r2".into(), ..link() },
            Link { expires_at: 9_999, ..link() },
        ] {
            let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
            assert_eq!(s.verify(&format!("{p}.{tag}")), Err(LinkError::BadSignature));
        }
        // Another key.
        let other = LinkSigner::new(&[8u8; 32]).unwrap();
        assert_eq!(other.verify(&token), Err(LinkError::BadSignature));
        // Truncated or garbled.
        assert_eq!(s.verify(payload), Err(LinkError::Malformed));
        assert_eq!(s.verify(&format!("{payload}.!!")), Err(LinkError::Malformed));
        assert!(s.verify(&format!("{payload}.{}", &tag[1..])).is_err());
        assert_eq!(s.verify(&format!("{payload}.{}", URL_SAFE_NO_PAD.encode([0u8; 32]))), Err(LinkError::BadSignature));
    }

    #[test]
    fn keys_must_be_long_enough_and_are_never_printed() {
        assert_eq!(LinkSigner::new(b"short\n").unwrap_err(), LinkError::ShortKey);
        let s = LinkSigner::new(&[b'k'; 40]).unwrap();
        assert!(!format!("{s:?}").contains("kkkk"));
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(link().nonce, link().nonce);
    }
}
