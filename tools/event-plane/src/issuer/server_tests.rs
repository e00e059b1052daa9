use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Map, Value};

use super::*;
use crate::clock::ManualClock;

const URL: &str = "http://127.0.0.1:9109";
const NOW: u64 = 1_800_000_000;
const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

fn issuer() -> &'static Issuer {
    static ISSUER: OnceLock<Issuer> = OnceLock::new();
    ISSUER.get_or_init(|| {
        let directory: Directory = serde_json::from_str(
            r#"{"clients": [{"client_id": "app"}, {"client_id": "web"}],
                "users": [{"username": "mia@example.com", "password": "s3cret", "sub": "u-000001",
                           "email": "mia@example.com"}]}"#,
        )
        .unwrap();
        let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW)));
        Issuer::new(URL.into(), SigningKey::generate().unwrap(), directory, clock)
    })
}

async fn call(
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> (StatusCode, http::HeaderMap, Value) {
    let response = issuer().respond(&method, path, content_type, &Bytes::from(body.to_owned()));
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, serde_json::from_slice(&bytes).unwrap())
}

fn verify(token: &str, jwks: &JwkSet) -> Map<String, Value> {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let key = DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).unwrap().claims
}

#[tokio::test]
async fn discovery_points_at_its_own_endpoints() {
    let (status, _, doc) = call(Method::GET, "/.well-known/openid-configuration", None, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["issuer"], URL);
    assert_eq!(doc["jwks_uri"], format!("{URL}/.well-known/jwks.json"));
    assert_eq!(doc["token_endpoint"], format!("{URL}/token"));
    let (_, _, jwks) = call(Method::GET, "/.well-known/jwks.json", None, "").await;
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["alg"].as_str(), key["use"].as_str()),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
    assert!(key.get("d").is_none(), "the private exponent must never be published");
}

#[tokio::test]
async fn password_sign_in_returns_id_and_access_tokens() {
    let form = "grant_type=password&username=mia%40example.com&password=s3cret&client_id=app";
    let (status, headers, tokens) = call(Method::POST, "/token", FORM, form).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    assert_eq!((tokens["token_type"].as_str(), tokens["expires_in"].as_u64()), (Some("Bearer"), Some(3600)));
    let (_, _, jwks) = call(Method::GET, "/.well-known/jwks.json", None, "").await;
    let jwks: JwkSet = serde_json::from_value(jwks).unwrap();

    let id = verify(tokens["id_token"].as_str().unwrap(), &jwks);
    assert_eq!(id["iss"], URL);
    assert_eq!(id["sub"], "u-000001");
    assert_eq!(id["aud"], "app");
    assert_eq!(id["email"], "mia@example.com");
    assert_eq!(id["token_use"], "id");
    assert_eq!((id["iat"].as_u64(), id["exp"].as_u64()), (Some(NOW), Some(NOW + 3600)));
    assert!(id.get("client_id").is_none());

    let access = verify(tokens["access_token"].as_str().unwrap(), &jwks);
    assert_eq!(access["client_id"], "app");
    assert!(access.get("aud").is_none(), "access tokens carry client_id instead of aud");
    assert_eq!(access["sub"], "u-000001");
    assert_eq!(access["email"], "mia@example.com");
    assert_eq!(access["exp"].as_u64(), Some(NOW + 3600));
}

#[tokio::test]
async fn refusals_are_oauth_errors() {
    let cases = [
        ("grant_type=password&username=mia%40example.com&password=nope&client_id=app", "invalid_grant"),
        ("grant_type=password&username=bob%40example.com&password=s3cret&client_id=app", "invalid_grant"),
        ("grant_type=password&username=mia%40example.com&password=s3cret&client_id=stranger", "invalid_client"),
        ("grant_type=client_credentials&client_id=app", "unsupported_grant_type"),
        ("grant_type=password&username=mia%40example.com&client_id=app", "invalid_request"),
        ("username=mia%40example.com", "invalid_request"),
    ];
    for (form, error) in cases {
        let (status, headers, body) = call(Method::POST, "/token", FORM, form).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some(error)), "{form}");
        assert!(body["error_description"].is_string());
        assert_eq!(headers[CACHE_CONTROL], "no-store");
        assert!(body.get("id_token").is_none());
    }
    let (status, _, body) = call(Method::POST, "/token", Some("application/json"), "{}").await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    let (status, _, _) = call(Method::GET, "/token", None, "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _, _) = call(Method::GET, "/userinfo", None, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
