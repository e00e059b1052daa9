//! `POST /3/device/{token}`: Apple's provider API.

pub mod aps;
pub mod push_type;
pub mod validate;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Version, header::AUTHORIZATION};
use hyper::body::Incoming;
use rand::RngExt;

// Defined below `app` and `stats`, which hold and count them, so that neither
// imports this handler; re-exported to keep their public paths.
pub use crate::provider_token::{MAX_TOKEN_AGE_SECS, ProviderTokenVerifier};
pub use crate::reasons::ApnsReason;

use crate::app::App;
use crate::faults::{self, Fault};
use crate::http_util::{self, BodyError, Resp};
use crate::stats::Counter;

pub const PATH_PREFIX: &str = "/3/device/";

/// Prefix of device tokens that answer 400 DeviceTokenNotForTopic.
pub const NOT_FOR_TOPIC_PREFIX: &str = "badbad";

/// A token issued to `app` takes its bundle topic and the app's
/// push-type topics (`<bundle>.push-type.liveactivity`, `.voip`, …).
fn topic_is_for(topic: &[u8], app: &str) -> bool {
    topic == app.as_bytes() || topic.strip_prefix(app.as_bytes()).is_some_and(|rest| rest.starts_with(b".push-type."))
}

enum Outcome {
    Delivered,
    Rejected(ApnsReason),
    Injected(Fault),
    Unregistered,
}

pub async fn handle(app: &App, req: Request<Incoming>) -> Resp {
    app.stats.add(Counter::ApnsRequests);
    let (parts, body) = req.into_parts();
    let token = parts.uri.path().get(PATH_PREFIX.len()..).unwrap_or("");
    // Read the body even when the request will be refused for its headers: answering
    // before the client's END_STREAM makes the server reset the stream, which some
    // clients (curl) report as a framing error instead of showing the response.
    let payload = http_util::read_limited(&parts.headers, body, http_util::DRAIN_LIMIT).await;
    let kept = if app.knobs.track_tokens() { payload.as_ref().ok().cloned() } else { None };
    let outcome = decide(app, &parts, token, payload);
    faults::apply_latency(&app.knobs).await;

    let mut resp = match outcome {
        Outcome::Delivered => {
            app.stats.add(Counter::ApnsDelivered);
            if app.knobs.track_tokens() {
                app.stats.record_delivery(token);
            }
            if let Some(payload) = kept {
                app.stats.record_payload(token, payload);
            }
            tracing::debug!(token, "apns delivered");
            http_util::empty(StatusCode::OK)
        }
        Outcome::Rejected(reason) => {
            app.stats.add(Counter::ApnsRejected(reason));
            tracing::debug!(token, reason = reason.as_str(), "apns rejected");
            http_util::json(reason.status(), Bytes::from_static(reason.body().as_bytes()))
        }
        Outcome::Unregistered => {
            let reason = ApnsReason::Unregistered;
            app.stats.add(Counter::ApnsRejected(reason));
            tracing::debug!(token, "apns unregistered");
            let body = format!(r#"{{"reason":"Unregistered","timestamp":{}}}"#, http_util::now_millis());
            http_util::json(reason.status(), body)
        }
        Outcome::Injected(fault) => {
            let reason = match fault {
                Fault::Internal => ApnsReason::InternalServerError,
                Fault::Unavailable => ApnsReason::ServiceUnavailable,
                Fault::TooManyRequests => ApnsReason::TooManyRequests,
            };
            app.stats.add(Counter::ApnsInjected(reason));
            tracing::debug!(token, reason = reason.as_str(), "apns injected fault");
            let mut r = http_util::json(reason.status(), Bytes::from_static(reason.body().as_bytes()));
            if fault == Fault::TooManyRequests {
                r.headers_mut().insert("retry-after", app.knobs.retry_after_secs().into());
            }
            r
        }
    };
    resp.headers_mut().insert("apns-id", response_apns_id(&parts.headers));
    resp
}

/// Apple's order: method/protocol, provider token, headers, device token, payload,
/// then the token's state. Injected faults come after the request has proved valid
/// (so permanent errors stay deterministic) and before the dead-token outcome.
fn decide(app: &App, parts: &http::request::Parts, token: &str, payload: Result<Bytes, BodyError>) -> Outcome {
    if parts.method != Method::POST {
        return Outcome::Rejected(ApnsReason::MethodNotAllowed);
    }
    if parts.version != Version::HTTP_2 {
        return Outcome::Rejected(ApnsReason::Http2Required);
    }
    let auth = parts.headers.get(AUTHORIZATION).map(HeaderValue::as_bytes);
    if let Err(r) = app.apns.check_header(auth, http_util::now_secs()) {
        return Outcome::Rejected(r);
    }
    let push = match validate::check_headers(&parts.headers) {
        Ok(p) => p,
        Err(r) => return Outcome::Rejected(r),
    };
    if let Err(r) = validate::check_device_token(token) {
        return Outcome::Rejected(r);
    }
    let payload = match payload {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return Outcome::Rejected(ApnsReason::PayloadTooLarge),
        Err(BodyError::Read) => return Outcome::Rejected(ApnsReason::PayloadEmpty),
    };
    if let Err(e) = validate::check_payload(&payload, push.push_type) {
        if let validate::PayloadError::Rule(rule) = &e {
            tracing::debug!(token, %rule, "apns payload breaks a documented rule");
        }
        return Outcome::Rejected(e.reason());
    }
    if token.starts_with(NOT_FOR_TOPIC_PREFIX) {
        return Outcome::Rejected(ApnsReason::DeviceTokenNotForTopic);
    }
    if let Some(app) = app.app_of(token)
        && parts.headers.get("apns-topic").is_some_and(|t| !topic_is_for(t.as_bytes(), &app))
    {
        return Outcome::Rejected(ApnsReason::DeviceTokenNotForTopic);
    }
    if let Some(fault) = faults::roll_fault(&app.knobs) {
        return Outcome::Injected(fault);
    }
    if app.is_dead(token) {
        return Outcome::Unregistered;
    }
    Outcome::Delivered
}

/// Echo a well-formed `apns-id`; otherwise make one (lowercase UUID v4).
fn response_apns_id(headers: &http::HeaderMap) -> HeaderValue {
    if let Some(v) = headers.get("apns-id")
        && validate::is_canonical_uuid(v.as_bytes())
    {
        return v.clone();
    }
    // A thread-local generator instead of uuid's getrandom call: no syscall per request.
    let bytes: [u8; 16] = faults::with_rng(|rng| rng.random());
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let s = id.hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("00000000-0000-4000-8000-000000000000"))
}
