//! `POST /v1/projects/{project}/messages:send`: FCM HTTP v1.

pub mod fields;
pub mod validate;

use http::{Method, Request, StatusCode, header::AUTHORIZATION};
use hyper::body::Incoming;

// Defined below `app` and `stats`, which hold and count them, so that neither
// imports this handler; re-exported to keep their public paths.
pub use crate::message_ids::MessageIds;
pub use crate::reasons::FcmCode;
use validate::Target;

use crate::app::App;
use crate::faults::{self, Fault};
use crate::http_util::{self, BodyError, JSON_UTF8, Resp};
use crate::stats::Counter;

pub const PATH_PREFIX: &str = "/v1/projects/";
pub const PATH_SUFFIX: &str = "/messages:send";

enum Outcome {
    /// The request body comes along for `GET /payloads/<token>`.
    Delivered {
        token: Option<String>,
        body: bytes::Bytes,
    },
    Validated,
    Rejected(FcmCode, Option<String>),
    Injected(Fault),
}

/// The `{project}` of `/v1/projects/{project}/messages:send`.
pub fn project_of(path: &str) -> Option<&str> {
    path.strip_prefix(PATH_PREFIX)?.strip_suffix(PATH_SUFFIX).filter(|p| !p.is_empty() && !p.contains('/'))
}

pub async fn handle(app: &App, req: Request<Incoming>) -> Resp {
    app.stats.add(Counter::FcmRequests);
    let outcome = decide(app, req).await;
    faults::apply_latency(&app.knobs).await;

    match outcome {
        Outcome::Delivered { token, body } => {
            app.stats.add(Counter::FcmDelivered);
            if let Some(t) = &token
                && app.knobs.track_tokens()
            {
                app.stats.record_delivery(t);
                app.stats.record_payload(t, body);
            }
            tracing::debug!(token = token.as_deref(), "fcm delivered");
            let body = format!(r#"{{"name":"projects/{}/messages/0:{}"}}"#, app.fcm_project, app.fcm_ids.next());
            http_util::with_body(StatusCode::OK, JSON_UTF8, body)
        }
        Outcome::Validated => {
            let body = format!(r#"{{"name":"projects/{}/messages/fake_message_id"}}"#, app.fcm_project);
            http_util::with_body(StatusCode::OK, JSON_UTF8, body)
        }
        Outcome::Rejected(code, message) => {
            app.stats.add(Counter::FcmRejected(code));
            let message = message.as_deref().unwrap_or(code.default_message());
            tracing::debug!(code = code.stats_key(), message, "fcm rejected");
            http_util::with_body(code.status(), JSON_UTF8, code.body(message))
        }
        Outcome::Injected(fault) => {
            let code = match fault {
                Fault::Internal => FcmCode::Internal,
                Fault::Unavailable => FcmCode::Unavailable,
                Fault::TooManyRequests => FcmCode::QuotaExceeded,
            };
            app.stats.add(Counter::FcmInjected(code));
            tracing::debug!(code = code.stats_key(), "fcm injected fault");
            let mut r = http_util::with_body(code.status(), JSON_UTF8, code.body(code.default_message()));
            if matches!(fault, Fault::TooManyRequests | Fault::Unavailable) {
                r.headers_mut().insert("retry-after", app.knobs.retry_after_secs().into());
            }
            r
        }
    }
}

/// Google's order: credentials, permission on the project, the message, then delivery.
async fn decide(app: &App, req: Request<Incoming>) -> Outcome {
    let (parts, body) = req.into_parts();
    let project = project_of(parts.uri.path()).unwrap_or_default();
    // Read first (see apns::handle): refusing before END_STREAM resets the stream.
    let body = http_util::read_limited(&parts.headers, body, validate::MAX_BODY_BYTES).await;
    if parts.method != Method::POST {
        return Outcome::Rejected(FcmCode::NotFound, None);
    }
    let bearer = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    if !bearer.is_some_and(|t| app.oauth.is_valid_access_token(t)) {
        return Outcome::Rejected(FcmCode::Unauthenticated, None);
    }
    if project != app.fcm_project {
        return Outcome::Rejected(
            FcmCode::PermissionDenied,
            Some(format!(
                "Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not exist)."
            )),
        );
    }
    let bytes = match body {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return Outcome::Rejected(FcmCode::InvalidArgument, Some("Message is too big".into()));
        }
        Err(BodyError::Read) => {
            return Outcome::Rejected(FcmCode::InvalidArgument, Some("Request body could not be read.".into()));
        }
    };
    let msg = match validate::check_body(&bytes) {
        Ok(m) => m,
        Err(invalid) => return Outcome::Rejected(FcmCode::InvalidArgument, Some(invalid.0)),
    };
    if let Some(fault) = faults::roll_fault(&app.knobs) {
        return Outcome::Injected(fault);
    }
    let token = match msg.target {
        Target::Token(t) => Some(t),
        Target::Topic(_) | Target::Condition(_) => None,
    };
    if let Some(t) = &token
        && app.is_dead(t)
    {
        return Outcome::Rejected(FcmCode::Unregistered, None);
    }
    if msg.validate_only {
        return Outcome::Validated;
    }
    Outcome::Delivered { token, body: bytes }
}
