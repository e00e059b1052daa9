//! An HTTP API's JWT authorizer, step by step as API Gateway documents it
//! ("Control access to HTTP APIs with JWT authorizers"): take the token from
//! `Authorization` (bare or `Bearer <token>`), decode it, check its algorithm
//! (RSA only) and signature against the issuer's key named by `kid`, then
//! `iss`, `aud` (or `client_id` when there is no `aud`), `exp`, `nbf`, `iat`,
//! and the route's scopes. jsonwebtoken checks the signature; the claims are
//! checked here, against an injected clock and with API Gateway's own rules
//! (jsonwebtoken knows no `client_id` fallback and reads the system clock).

use std::future::Future;

use http::HeaderMap;
use http::header::AUTHORIZATION;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::claims::has_a_route_scope;
use super::jwks::{IssuerKeys, JwksError};

/// "Currently, only RSA-based algorithms are supported."
const RSA_ALGORITHMS: [Algorithm; 6] =
    [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS384, Algorithm::PS512];

/// Why a request does not pass the authorizer.
#[derive(Debug)]
pub enum Refusal {
    /// No token at all: 401, and a challenge without error details (RFC 6750, 3.1).
    Missing,
    /// 401; the text goes into `www-authenticate` as `error_description`.
    Invalid(String),
    /// A valid token without any of the route's scopes: 403.
    Scope,
    /// The issuer's keys could not be fetched.
    Keys(JwksError),
}

/// Where the authorizer finds an issuer's keys.
pub trait KeyLookup {
    fn find(&self, kid: &str) -> impl Future<Output = Result<Option<Jwk>, JwksError>> + Send;
}

impl KeyLookup for IssuerKeys {
    fn find(&self, kid: &str) -> impl Future<Output = Result<Option<Jwk>, JwksError>> + Send {
        IssuerKeys::find(self, kid)
    }
}

/// What the authorizer is configured with, for one route.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub audiences: &'a [String],
    pub scopes: &'a [String],
    /// Now, in seconds since the epoch.
    pub now: u64,
}

/// The token's claims when the request passes.
pub async fn authorize(
    headers: &HeaderMap,
    expect: Expect<'_>,
    keys: &impl KeyLookup,
) -> Result<Map<String, Value>, Refusal> {
    let token = bearer_token(headers).ok_or(Refusal::Missing)?;
    let invalid = |text: &str| Refusal::Invalid(text.to_owned());
    let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("the token is malformed"))?;
    if !RSA_ALGORITHMS.contains(&header.alg) {
        return Err(Refusal::Invalid(format!("signing method {:?} is invalid", header.alg)));
    }
    let kid = header.kid.as_deref().ok_or_else(|| invalid("the token has no kid"))?;
    let jwk = keys
        .find(kid)
        .await
        .map_err(Refusal::Keys)?
        .ok_or_else(|| invalid("the token's kid is not a key of the issuer"))?;
    let declared = jwk.common.key_algorithm.map(Algorithm::try_from);
    if !matches!(jwk.algorithm, AlgorithmParameters::RSA(_)) || declared.is_some_and(|a| a.ok() != Some(header.alg)) {
        return Err(Refusal::Invalid(format!("signing method {:?} is invalid", header.alg)));
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| invalid("the issuer's key cannot be used"))?;
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let claims = match jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation) {
        Ok(data) => data.claims,
        Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {
            return Err(invalid("the token's signature is invalid"));
        }
        Err(_) => return Err(invalid("the token is malformed")),
    };
    check_claims(&claims, expect)?;
    Ok(claims)
}

/// The token of `Authorization: <token>` or `Authorization: Bearer <token>`.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        // The scheme alone carries no token.
        None if value.eq_ignore_ascii_case("bearer") => "",
        _ => value,
    };
    (!token.is_empty()).then_some(token)
}

fn check_claims(claims: &Map<String, Value>, expect: Expect<'_>) -> Result<(), Refusal> {
    let invalid = |text: &str| Err(Refusal::Invalid(text.to_owned()));
    if claims.get("iss").and_then(Value::as_str) != Some(expect.issuer) {
        return invalid("the token does not have a valid issuer");
    }
    // "API Gateway validates client_id only if aud is not present."
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => expect.audiences.contains(aud),
        Some(Value::Array(auds)) => {
            auds.iter().filter_map(Value::as_str).any(|a| expect.audiences.iter().any(|e| e == a))
        }
        Some(_) => false,
        None => {
            claims.get("client_id").and_then(Value::as_str).is_some_and(|c| expect.audiences.iter().any(|e| e == c))
        }
    };
    if !audience_ok {
        return invalid("the token does not have a valid audience");
    }
    let now = expect.now as f64;
    let time = |name: &str| claims.get(name).map(|v| v.as_f64().ok_or(()));
    // A token without `exp` would never expire; "exp must be after the
    // current time" cannot hold for it.
    match time("exp") {
        Some(Ok(exp)) if now < exp => {}
        Some(Ok(_)) => return invalid("the token has expired"),
        Some(Err(())) | None => return invalid("the token has no valid exp"),
    }
    for name in ["nbf", "iat"] {
        match time(name) {
            None => {}
            Some(Ok(t)) if t <= now => {}
            Some(Ok(_)) => return invalid("the token is not valid yet"),
            Some(Err(())) => return Err(Refusal::Invalid(format!("the token has no valid {name}"))),
        }
    }
    if !has_a_route_scope(expect.scopes, claims) {
        return Err(Refusal::Scope);
    }
    Ok(())
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
mod tests;
