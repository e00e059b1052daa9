//! The user agent's keys (RFC 8291 §2: a P-256 key pair and a 16-byte auth
//! secret) and the decryption of what senders encrypt with them.
//!
//! Crate: web-push-native (RustCrypto's p256, hkdf and aes-gcm underneath). Its
//! `decrypt` is the receiving side of RFC 8291 as a whole, so the sandbox does no
//! HKDF or AES-GCM of its own; it is pure Rust like the rest of the workspace (no
//! OpenSSL, which Mozilla's `ece` needs) and it is the crate the sender is
//! expected to use. Sharing a crate with the sender could hide a bug common to
//! both, so the tests also decrypt RFC 8291's own example. The header rules the
//! crate leaves to its callers are checked here first.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use web_push_native::Auth;
use web_push_native::p256::SecretKey;
use web_push_native::p256::elliptic_curve::sec1::ToEncodedPoint;

use super::vapid::{POINT_LEN, PublicKey};

pub const AUTH_LEN: usize = 16;
/// salt (16) + rs (4) + idlen (1), RFC 8188 §2.1.
const HEADER_LEN: usize = 21;
/// RFC 8188 §2.1: "Values [of rs] smaller than 18 are invalid."
const MIN_RECORD_SIZE: u32 = 18;
/// A record holds at least the padding delimiter and the 16-byte tag.
const MIN_RECORD_LEN: usize = 17;

#[derive(Debug, thiserror::Error)]
pub enum DecryptError {
    #[error("the body is shorter than the aes128gcm header")]
    HeaderTooShort,
    #[error("record size {0} is below 18 (RFC 8188 §2.1)")]
    RecordSize(u32),
    #[error("keyid is {0} bytes; RFC 8291 §4 puts the sender's 65-byte uncompressed P-256 key there")]
    KeyId(usize),
    #[error("the body holds more than one record of {rs} bytes; RFC 8291 §4 allows a single record")]
    NotOneRecord { rs: u32 },
    #[error("the record is {0} bytes, too short for a delimiter and a tag")]
    RecordTooShort(usize),
    #[error("decryption with the subscription's keys failed: {0}")]
    Cipher(#[source] web_push_native::Error),
}

#[derive(Debug, thiserror::Error)]
#[error("could not draw a P-256 private key")]
pub struct KeyGenerationFailed;

/// A subscription's keys, as the browser holds them.
pub struct UserAgentKeys {
    secret: SecretKey,
    public: PublicKey,
    auth: [u8; AUTH_LEN],
}

impl UserAgentKeys {
    pub fn generate() -> Result<Self, KeyGenerationFailed> {
        // A random 32-byte string is a valid scalar unless it is zero or past the
        // group order, a chance near 2^-128: a few draws always suffice.
        for _ in 0..4 {
            if let Some(keys) = Self::from_parts(rand::random(), rand::random()) {
                return Ok(keys);
            }
        }
        Err(KeyGenerationFailed)
    }

    pub fn from_parts(private: [u8; 32], auth: [u8; AUTH_LEN]) -> Option<Self> {
        let secret = SecretKey::from_bytes(&private.into()).ok()?;
        let public: PublicKey = secret.public_key().to_encoded_point(false).as_bytes().try_into().ok()?;
        Some(Self { secret, public, auth })
    }

    /// `keys.p256dh` of the subscription JSON.
    pub fn p256dh(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.public)
    }

    /// `keys.auth` of the subscription JSON.
    pub fn auth(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.auth)
    }

    /// An `aes128gcm` body (RFC 8188 header, one record, RFC 8291 keys) → plaintext.
    pub fn decrypt(&self, body: &[u8]) -> Result<Vec<u8>, DecryptError> {
        check_header(body)?;
        web_push_native::decrypt(body.to_vec(), &self.secret, &Auth::from(self.auth)).map_err(DecryptError::Cipher)
    }
}

/// What the crate does not check, or would panic on (a record size of 0).
fn check_header(body: &[u8]) -> Result<(), DecryptError> {
    let Some(header) = body.get(..HEADER_LEN) else {
        return Err(DecryptError::HeaderTooShort);
    };
    let rs = u32::from_be_bytes([header[16], header[17], header[18], header[19]]);
    if rs < MIN_RECORD_SIZE {
        return Err(DecryptError::RecordSize(rs));
    }
    let idlen = usize::from(header[20]);
    if idlen != POINT_LEN {
        return Err(DecryptError::KeyId(idlen));
    }
    let Some(keyid) = body.get(HEADER_LEN..HEADER_LEN + POINT_LEN) else {
        return Err(DecryptError::HeaderTooShort);
    };
    if keyid[0] != 0x04 {
        return Err(DecryptError::KeyId(idlen));
    }
    let record = body.len() - HEADER_LEN - POINT_LEN;
    // A record may fill rs exactly: browsers accept it, and web-push-native
    // writes rs = plaintext + 17.
    if record > rs as usize {
        return Err(DecryptError::NotOneRecord { rs });
    }
    if record < MIN_RECORD_LEN {
        return Err(DecryptError::RecordTooShort(record));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use web_push_native::p256;

    fn b64(s: &str) -> Vec<u8> {
        B64.decode(s).expect("base64url")
    }

    /// RFC 8291 §5 (Appendix A), the user agent's side.
    fn rfc_keys() -> UserAgentKeys {
        let private: [u8; 32] = b64("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94").try_into().expect("32");
        let auth: [u8; 16] = b64("BTBZMqHH6r4Tts7J_aSIgg").try_into().expect("16");
        UserAgentKeys::from_parts(private, auth).expect("valid key")
    }

    const RFC_BODY: &str = concat!(
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml",
        "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT",
        "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
    );

    #[test]
    fn decrypts_the_rfc_8291_example() {
        let keys = rfc_keys();
        assert_eq!(
            keys.p256dh(),
            "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
        );
        let plain = keys.decrypt(&b64(RFC_BODY)).expect("the RFC's body decrypts");
        assert_eq!(plain, b"When I grow up, I want to be a watermelon");
    }

    #[test]
    fn round_trip_with_the_senders_crate() {
        let keys = UserAgentKeys::generate().expect("keys");
        assert_eq!(b64(&keys.auth()).len(), AUTH_LEN);
        let ua_public = p256::PublicKey::from_sec1_bytes(&b64(&keys.p256dh())).expect("p256dh is a point");
        let auth = Auth::from(<[u8; 16]>::try_from(b64(&keys.auth())).expect("16"));
        let body = web_push_native::encrypt(b"{\"title\":\"hi\"}".to_vec(), &ua_public, &auth).expect("encrypt");
        assert_eq!(keys.decrypt(&body).expect("decrypts"), b"{\"title\":\"hi\"}");
        let other = UserAgentKeys::generate().expect("keys");
        assert!(matches!(other.decrypt(&body), Err(DecryptError::Cipher(_))), "another subscription's keys");
    }

    #[test]
    fn malformed_bodies_are_refused_without_panicking() {
        let keys = rfc_keys();
        let good = b64(RFC_BODY);
        assert!(matches!(keys.decrypt(&good[..20]), Err(DecryptError::HeaderTooShort)));
        let mut zero_rs = good.clone();
        zero_rs[16..20].copy_from_slice(&0u32.to_be_bytes());
        assert!(matches!(keys.decrypt(&zero_rs), Err(DecryptError::RecordSize(0))));
        let mut short_rs = good.clone();
        short_rs[16..20].copy_from_slice(&40u32.to_be_bytes());
        assert!(matches!(keys.decrypt(&short_rs), Err(DecryptError::NotOneRecord { rs: 40 })));
        let mut idlen = good.clone();
        idlen[20] = 64;
        assert!(matches!(keys.decrypt(&idlen), Err(DecryptError::KeyId(64))));
        assert!(matches!(keys.decrypt(&good[..HEADER_LEN + POINT_LEN + 16]), Err(DecryptError::RecordTooShort(16))));
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(keys.decrypt(&flipped), Err(DecryptError::Cipher(_))), "tag no longer matches");
    }
}
