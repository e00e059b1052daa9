//! Errors as HTTP responses: a status and a JSON body
//! `{"error": <code>, "message": <text>, "field": <name, when one is at fault>}`.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde_json::json;

/// Everything the API can refuse a request for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("no authenticated caller: call through the API with a bearer token, or with IAM from a backend")]
    Unauthenticated,
    #[error("a user may only manage their own devices and preferences: the token's subject is not {{id}}")]
    Forbidden,
    #[error("no such route")]
    NotFound,
    #[error("this path accepts only {allow}")]
    MethodNotAllowed { allow: &'static str },
    #[error("the body is over {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the body must be JSON (Content-Type: application/json), not {0:?}")]
    UnsupportedMediaType(String),
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("`{0}` is required")]
    MissingField(&'static str),
    #[error("`{0}` is not a field of this request")]
    UnknownField(String),
    #[error("`{field}` is invalid: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("`{field}` was claimed by another user at the same time; nothing is registered")]
    Conflict { field: &'static str },
    #[error("the devices of this user are being changed concurrently; retry")]
    Busy,
    #[error("the devices table could not be reached; retry")]
    Unavailable,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::InvalidJson(_)
            | ApiError::MissingField(_)
            | ApiError::UnknownField(_)
            | ApiError::InvalidField { .. } => StatusCode::BAD_REQUEST,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            // Both are transient: 503 is what HTTP clients retry on their own.
            ApiError::Busy | ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The machine-readable `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::MissingField(_) => "missing_field",
            ApiError::UnknownField(_) => "unknown_field",
            ApiError::InvalidField { .. } => "invalid_field",
            ApiError::Conflict { .. } => "conflict",
            ApiError::Busy => "busy",
            ApiError::Unavailable => "unavailable",
        }
    }

    /// The field at fault, if one is.
    pub fn field(&self) -> Option<&str> {
        match self {
            ApiError::MissingField(f) | ApiError::InvalidField { field: f, .. } | ApiError::Conflict { field: f } => {
                Some(f)
            }
            ApiError::UnknownField(f) => Some(f),
            _ => None,
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let mut body = json!({"error": self.code(), "message": self.to_string()});
        if let Some(field) = self.field() {
            body["field"] = json!(field);
        }
        let mut response = json_response(self.status(), &body);
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthenticated => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::MethodNotAllowed { allow } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            ApiError::Busy | ApiError::Unavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

/// A JSON response with `status`.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// An empty response with `status`.
pub fn empty_response(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_json(response: &Response<Body>) -> serde_json::Value {
        match response.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("unexpected body {other:?}"),
        }
    }

    #[test]
    fn field_errors_name_the_field() {
        let r = ApiError::InvalidField { field: "token", reason: "too short".into() }.into_response();
        assert_eq!(r.status(), 400);
        let body = body_json(&r);
        assert_eq!(body["error"], "invalid_field");
        assert_eq!(body["field"], "token");
        assert_eq!(body["message"], "`token` is invalid: too short");
    }

    #[test]
    fn auth_and_method_errors_carry_their_headers() {
        let r = ApiError::Unauthenticated.into_response();
        assert_eq!((r.status().as_u16(), r.headers()["www-authenticate"].to_str().unwrap()), (401, "Bearer"));
        let r = ApiError::MethodNotAllowed { allow: "PUT" }.into_response();
        assert_eq!((r.status().as_u16(), r.headers()["allow"].to_str().unwrap()), (405, "PUT"));
        assert!(body_json(&ApiError::Forbidden.into_response()).get("field").is_none());
    }
}
