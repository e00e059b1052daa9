use std::sync::OnceLock;

use http::HeaderValue;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{EncodingKey, Header};
use rcgen::{KeyPair, PKCS_RSA_SHA256};
use serde_json::json;

use super::*;

const ISSUER: &str = "http://127.0.0.1:1";
const NOW: u64 = 1_800_000_000;

struct TestKey {
    encoding: EncodingKey,
    jwk: Jwk,
}

fn rsa_key(kid: &str) -> TestKey {
    let pair = KeyPair::generate_for(&PKCS_RSA_SHA256).expect("rsa key");
    let encoding = EncodingKey::from_rsa_pem(pair.serialize_pem().as_bytes()).expect("pem");
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).expect("jwk");
    jwk.common.key_id = Some(kid.to_owned());
    TestKey { encoding, jwk }
}

/// The issuer's key, and another with the same kid that the issuer never
/// published (generated once: RSA keys take a while).
fn keys() -> &'static (TestKey, TestKey) {
    static KEYS: OnceLock<(TestKey, TestKey)> = OnceLock::new();
    KEYS.get_or_init(|| (rsa_key("k1"), rsa_key("k1")))
}

struct Published(JwkSet);

impl KeyLookup for Published {
    async fn find(&self, kid: &str) -> Result<Option<Jwk>, JwksError> {
        Ok(self.0.find(kid).cloned())
    }
}

struct Unreachable;

impl KeyLookup for Unreachable {
    async fn find(&self, _kid: &str) -> Result<Option<Jwk>, JwksError> {
        Err(JwksError::Status { url: format!("{ISSUER}/.well-known/openid-configuration"), status: 502 })
    }
}

fn published() -> Published {
    Published(JwkSet { keys: vec![keys().0.jwk.clone()] })
}

fn sign(claims: &Value, key: &TestKey, kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key.encoding).expect("encode")
}

fn id_token(extra: Value) -> Value {
    let mut claims = json!({"iss": ISSUER, "sub": "u-1", "aud": "app", "email": "a@example.net",
                            "iat": NOW - 10, "exp": NOW + 3600});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

fn headers(authorization: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
    h
}

async fn check_with(authorization: &str, scopes: &[String], now: u64) -> Result<Map<String, Value>, Refusal> {
    let audiences = ["app".to_owned(), "other-app".to_owned()];
    let expect = Expect { issuer: ISSUER, audiences: &audiences, scopes, now };
    authorize(&headers(authorization), expect, &published()).await
}

async fn check(claims: Value) -> Result<Map<String, Value>, Refusal> {
    check_with(&format!("Bearer {}", sign(&claims, &keys().0, Some("k1"))), &[], NOW).await
}

fn description(result: Result<Map<String, Value>, Refusal>) -> String {
    match result {
        Err(Refusal::Invalid(text)) => text,
        other => panic!("expected an invalid token, got {other:?}"),
    }
}

#[tokio::test]
async fn a_good_token_passes_with_its_claims() {
    let claims = check(id_token(json!({}))).await.expect("valid");
    assert_eq!(claims["sub"], "u-1");
    assert_eq!(claims["email"], "a@example.net");
    // Bare tokens and any case of the scheme are accepted.
    let token = sign(&id_token(json!({})), &keys().0, Some("k1"));
    assert!(check_with(&token, &[], NOW).await.is_ok());
    assert!(check_with(&format!("bearer {token}"), &[], NOW).await.is_ok());
    // An audience list passes when one of its entries is accepted.
    assert!(check(id_token(json!({"aud": ["x", "other-app"]}))).await.is_ok());
}

#[tokio::test]
async fn client_id_counts_only_without_aud() {
    let access = id_token(json!({"aud": null, "client_id": "app", "token_use": "access"}));
    assert!(check(access).await.is_ok());
    let wrong = id_token(json!({"aud": null, "client_id": "stranger"}));
    assert_eq!(description(check(wrong).await), "the token does not have a valid audience");
    let both = id_token(json!({"aud": "stranger", "client_id": "app"}));
    assert_eq!(description(check(both).await), "the token does not have a valid audience");
    let neither = id_token(json!({"aud": null}));
    assert_eq!(description(check(neither).await), "the token does not have a valid audience");
}

#[tokio::test]
async fn no_token_is_missing() {
    assert!(matches!(
        authorize(&HeaderMap::new(), Expect { issuer: ISSUER, audiences: &[], scopes: &[], now: NOW }, &published())
            .await,
        Err(Refusal::Missing)
    ));
    assert!(matches!(check_with("Bearer ", &[], NOW).await, Err(Refusal::Missing)));
}

#[tokio::test]
async fn signatures_and_algorithms_are_checked() {
    let claims = id_token(json!({}));
    let forged = sign(&claims, &keys().1, Some("k1"));
    assert_eq!(description(check_with(&forged, &[], NOW).await), "the token's signature is invalid");
    let unknown_kid = sign(&claims, &keys().0, Some("k9"));
    assert_eq!(description(check_with(&unknown_kid, &[], NOW).await), "the token's kid is not a key of the issuer");
    let no_kid = sign(&claims, &keys().0, None);
    assert_eq!(description(check_with(&no_kid, &[], NOW).await), "the token has no kid");
    let hmac = jsonwebtoken::encode(
        &Header { kid: Some("k1".into()), ..Header::new(Algorithm::HS256) },
        &claims,
        &EncodingKey::from_secret(b"secret"),
    )
    .unwrap();
    assert_eq!(description(check_with(&hmac, &[], NOW).await), "signing method HS256 is invalid");
    // A payload swapped under a valid signature.
    let good = sign(&claims, &keys().0, Some("k1"));
    let other = sign(&id_token(json!({"sub": "u-2"})), &keys().0, Some("k1"));
    let parts: Vec<&str> = good.split('.').collect();
    let spliced = format!("{}.{}.{}", parts[0], other.split('.').nth(1).unwrap(), parts[2]);
    assert_eq!(description(check_with(&spliced, &[], NOW).await), "the token's signature is invalid");
    assert_eq!(description(check_with("not-a-jwt", &[], NOW).await), "the token is malformed");
}

#[tokio::test]
async fn issuer_and_times_are_checked_against_the_clock() {
    let other_issuer = id_token(json!({"iss": "http://127.0.0.1:2"}));
    assert_eq!(description(check(other_issuer).await), "the token does not have a valid issuer");
    let token = format!("Bearer {}", sign(&id_token(json!({})), &keys().0, Some("k1")));
    assert!(check_with(&token, &[], NOW + 3599).await.is_ok());
    assert_eq!(description(check_with(&token, &[], NOW + 3600).await), "the token has expired");
    assert_eq!(description(check(id_token(json!({"exp": null}))).await), "the token has no valid exp");
    assert_eq!(description(check(id_token(json!({"exp": "soon"}))).await), "the token has no valid exp");
    assert_eq!(description(check(id_token(json!({"nbf": NOW + 5}))).await), "the token is not valid yet");
    assert_eq!(description(check(id_token(json!({"iat": NOW + 5}))).await), "the token is not valid yet");
    assert!(check(id_token(json!({"nbf": NOW, "iat": NOW}))).await.is_ok());
}

#[tokio::test]
async fn route_scopes_need_one_of_them() {
    let token = format!("Bearer {}", sign(&id_token(json!({"scope": "openid devices"})), &keys().0, Some("k1")));
    assert!(check_with(&token, &["devices".to_owned()], NOW).await.is_ok());
    assert!(matches!(check_with(&token, &["admin".to_owned()], NOW).await, Err(Refusal::Scope)));
}

#[tokio::test]
async fn unreachable_keys_are_not_an_invalid_token() {
    let token = format!("Bearer {}", sign(&id_token(json!({})), &keys().0, Some("k1")));
    let expect = Expect { issuer: ISSUER, audiences: &[], scopes: &[], now: NOW };
    assert!(matches!(authorize(&headers(&token), expect, &Unreachable).await, Err(Refusal::Keys(_))));
}
