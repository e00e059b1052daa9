//! The issuer's RSA key and the tokens it signs: an ID token (`aud` = the
//! client) and an access token (`client_id`, no `aud`), as a Cognito user
//! pool issues them, each valid for one hour.

use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::{KeyPair, PKCS_RSA_SHA256};
use serde::Serialize;

use super::directory::{Client, User};

pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("generating the issuer's RSA key: {0}")]
    Generate(#[source] rcgen::Error),
    #[error("loading the issuer's RSA key: {0}")]
    Load(#[source] jsonwebtoken::errors::Error),
}

/// The key is made at start and lives in memory only: tokens do not
/// outlive the plane, as they would not outlive a deleted user pool.
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwks: JwkSet,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl SigningKey {
    pub fn generate() -> Result<SigningKey, KeyError> {
        let pair = KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(KeyError::Generate)?;
        let encoding = EncodingKey::from_rsa_pem(pair.serialize_pem().as_bytes()).map_err(KeyError::Load)?;
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).map_err(KeyError::Load)?;
        // RFC 7638's thumbprint: a kid that names exactly this key.
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).map_err(KeyError::Load)?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(SigningKey { kid, encoding, jwks: JwkSet { keys: vec![jwk] } })
    }

    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    fn sign(&self, claims: &impl Serialize) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
    }
}

#[derive(Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    email: &'a str,
    email_verified: bool,
    token_use: &'static str,
    auth_time: u64,
    iat: u64,
    exp: u64,
    jti: String,
}

#[derive(Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    client_id: &'a str,
    username: &'a str,
    email: &'a str,
    token_use: &'static str,
    scope: &'static str,
    auth_time: u64,
    iat: u64,
    exp: u64,
    jti: String,
}

/// The token endpoint's successful answer (RFC 6749, 5.1, plus OIDC's `id_token`).
#[derive(Debug, Serialize)]
pub struct Tokens {
    pub id_token: String,
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
}

pub fn mint(
    key: &SigningKey,
    issuer: &str,
    user: &User,
    client: &Client,
    now: u64,
) -> Result<Tokens, jsonwebtoken::errors::Error> {
    let exp = now + TOKEN_LIFETIME.as_secs();
    let id = IdClaims {
        iss: issuer,
        sub: &user.sub,
        aud: &client.client_id,
        email: &user.email,
        email_verified: true,
        token_use: "id",
        auth_time: now,
        iat: now,
        exp,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    let access = AccessClaims {
        iss: issuer,
        sub: &user.sub,
        client_id: &client.client_id,
        username: &user.username,
        email: &user.email,
        token_use: "access",
        scope: "openid email",
        auth_time: now,
        iat: now,
        exp,
        jti: uuid::Uuid::new_v4().to_string(),
    };
    Ok(Tokens {
        id_token: key.sign(&id)?,
        access_token: key.sign(&access)?,
        token_type: "Bearer",
        expires_in: TOKEN_LIFETIME.as_secs(),
    })
}
