//! The local issuer's HTTP endpoints, an OIDC provider's minimum:
//! discovery (`/.well-known/openid-configuration`), the key set
//! (`/.well-known/jwks.json`) and a token endpoint (`POST /token`) that signs
//! in the directory's users with `grant_type=password`. Errors are OAuth 2.0
//! error bodies (RFC 6749, 5.2).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, PRAGMA};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde_json::json;

use super::directory::Directory;
use super::tokens::{SigningKey, mint};
use crate::clock::Clock;
use crate::http::{Body, json_response, query_pairs};

const MAX_FORM: usize = 64 * 1024;

#[derive(Debug)]
pub struct Issuer {
    /// `iss` of every token, and where the documents say the endpoints are.
    url: String,
    key: SigningKey,
    directory: Directory,
    clock: Arc<dyn Clock>,
}

impl Issuer {
    pub fn new(url: String, key: SigningKey, directory: Directory, clock: Arc<dyn Clock>) -> Self {
        Self { url, key, directory, clock }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn handle(self: Arc<Self>, req: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_FORM).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &format!("reading the body: {e}"));
            }
        };
        let content_type = parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        self.respond(&parts.method, parts.uri.path(), content_type, &body)
    }

    pub fn respond(&self, method: &Method, path: &str, content_type: Option<&str>, body: &Bytes) -> Response<Body> {
        match (method, path) {
            (&Method::GET, "/.well-known/openid-configuration") => json_response(StatusCode::OK, &self.discovery()),
            (&Method::GET, "/.well-known/jwks.json") => json_response(StatusCode::OK, self.key.jwks()),
            (&Method::POST, "/token") => no_store(self.token(content_type, body)),
            (_, "/.well-known/openid-configuration" | "/.well-known/jwks.json" | "/token") => {
                json_response(StatusCode::METHOD_NOT_ALLOWED, &json!({"error": "method_not_allowed"}))
            }
            _ => json_response(StatusCode::NOT_FOUND, &json!({"error": "not_found"})),
        }
    }

    fn discovery(&self) -> serde_json::Value {
        json!({
            "issuer": self.url,
            "jwks_uri": format!("{}/.well-known/jwks.json", self.url),
            "token_endpoint": format!("{}/token", self.url),
            "grant_types_supported": ["password"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": ["openid", "email"],
            "claims_supported": ["iss", "sub", "aud", "client_id", "email", "email_verified", "iat", "exp"],
        })
    }

    fn token(&self, content_type: Option<&str>, body: &Bytes) -> Response<Body> {
        let form_type = content_type
            .and_then(|t| t.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        if !form_type {
            let text = "the body must be application/x-www-form-urlencoded";
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", text);
        }
        let Ok(form) = std::str::from_utf8(body) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "the body is not UTF-8");
        };
        let pairs = query_pairs(Some(form));
        let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let Some(grant_type) = field("grant_type") else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "grant_type is missing");
        };
        if grant_type != "password" {
            let text = "only grant_type=password is supported";
            return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", text);
        }
        let (Some(username), Some(password), Some(client_id)) =
            (field("username"), field("password"), field("client_id"))
        else {
            let text = "username, password and client_id are required";
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", text);
        };
        let Some(client) = self.directory.client(client_id) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_client", "unknown client_id");
        };
        // The same answer for an unknown user and a wrong password, so the
        // endpoint does not tell which usernames exist.
        let Some(user) = self.directory.sign_in(username, password) else {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "incorrect username or password");
        };
        match mint(&self.key, &self.url, user, client, self.clock.epoch_seconds()) {
            Ok(tokens) => json_response(StatusCode::OK, &tokens),
            Err(e) => {
                tracing::error!(error = %e, "signing tokens failed");
                oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "signing the tokens failed")
            }
        }
    }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response<Body> {
    no_store(json_response(status, &json!({"error": error, "error_description": description})))
}

/// RFC 6749, 5.1: token responses must not be cached.
fn no_store(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
