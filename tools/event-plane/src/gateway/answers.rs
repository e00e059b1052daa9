//! What API Gateway answers itself, before or instead of a function: a
//! status and `{"message": "<reason phrase>"}`.

use http::header::{HeaderValue, WWW_AUTHENTICATE};
use http::{Response, StatusCode};
use serde_json::json;

use crate::http::{Body, json_response};

pub fn message(status: StatusCode) -> Response<Body> {
    let text = status.canonical_reason().unwrap_or("Error");
    json_response(status, &json!({ "message": text }))
}

/// 401 with the challenge the JWT authorizer sends. With no token there is
/// nothing to describe (RFC 6750, 3.1); otherwise the layout is the one API
/// Gateway's troubleshooting page shows:
/// `Bearer scope="" error="invalid_token" error_description="..."`.
pub fn unauthorized(description: Option<&str>) -> Response<Body> {
    let challenge = match description {
        None => "Bearer".to_owned(),
        Some(text) => format!("Bearer scope=\"\" error=\"invalid_token\" error_description=\"{}\"", quoted(text)),
    };
    with_challenge(message(StatusCode::UNAUTHORIZED), &challenge)
}

/// 403 for a valid token without any of the route's scopes.
pub fn insufficient_scope(scopes: &[String]) -> Response<Body> {
    let challenge = format!(
        "Bearer scope=\"{}\" error=\"insufficient_scope\" error_description=\"the token does not have the required scope\"",
        quoted(&scopes.join(" "))
    );
    with_challenge(message(StatusCode::FORBIDDEN), &challenge)
}

fn quoted(text: &str) -> String {
    text.replace(['"', '\\'], "'")
}

fn with_challenge(mut response: Response<Body>, challenge: &str) -> Response<Body> {
    if let Ok(value) = HeaderValue::from_str(challenge) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn body(response: Response<Body>) -> String {
        String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn messages_are_reason_phrases() {
        assert_eq!(body(message(StatusCode::NOT_FOUND)).await, r#"{"message":"Not Found"}"#);
        assert_eq!(body(message(StatusCode::FORBIDDEN)).await, r#"{"message":"Forbidden"}"#);
        assert_eq!(body(message(StatusCode::INTERNAL_SERVER_ERROR)).await, r#"{"message":"Internal Server Error"}"#);
    }

    #[tokio::test]
    async fn challenges_follow_the_documented_layout() {
        let r = unauthorized(Some("the token does not have a valid audience"));
        assert_eq!(
            r.headers()[WWW_AUTHENTICATE],
            r#"Bearer scope="" error="invalid_token" error_description="the token does not have a valid audience""#
        );
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(body(r).await, r#"{"message":"Unauthorized"}"#);
        assert_eq!(unauthorized(None).headers()[WWW_AUTHENTICATE], "Bearer");
        let r = insufficient_scope(&["a".into(), "b".into()]);
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(
            r.headers()[WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with(r#"Bearer scope="a b" error="insufficient_scope""#)
        );
    }
}
