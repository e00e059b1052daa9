//! `POST /wp/{id}`: a browser push service's push resource (RFC 8030 §5), with
//! VAPID (RFC 8292), and the browser behind it, which decrypts (RFC 8291) and
//! records what arrived. Subscriptions come from the control routes in `control`.

pub mod control;
pub mod headers;
pub mod keys;
pub mod store;
pub mod vapid;

use bytes::Bytes;
use http::header::{ALLOW, AUTHORIZATION, LOCATION, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, Request, StatusCode};
use hyper::body::Incoming;

pub use crate::reasons::WebPushReason;
pub use store::RESOURCE_PREFIX as PATH_PREFIX;
use vapid::Refused;

use crate::app::App;
use crate::faults::{self, Fault};
use crate::http_util::{self, BodyError, Resp};
use crate::stats::Counter;

/// RFC 8291 §4: push services accept 4096 octets of encrypted body, and the
/// sandbox accepts no more, as the services may not.
pub const MAX_BODY_BYTES: usize = 4096;

enum Outcome {
    Delivered { location: String, ttl: u64 },
    Rejected(Refused),
    Injected(Fault),
}

fn reject(reason: WebPushReason) -> Outcome {
    Outcome::Rejected(Refused { reason, message: reason.describe().to_owned() })
}

pub async fn handle(app: &App, req: Request<Incoming>) -> Resp {
    app.stats.add(Counter::WebPushRequests);
    let (parts, body) = req.into_parts();
    let id = parts.uri.path().get(PATH_PREFIX.len()..).unwrap_or("");
    // Read first (see apns::handle): refusing before END_STREAM resets the stream.
    let body = http_util::read_limited(&parts.headers, body, http_util::DRAIN_LIMIT).await;
    let outcome = decide(app, &parts, id, body);
    faults::apply_latency(&app.knobs).await;

    match outcome {
        Outcome::Delivered { location, ttl } => {
            app.stats.add(Counter::WebPushDelivered);
            if app.knobs.track_tokens() {
                app.stats.record_delivery(id);
            }
            tracing::debug!(subscription = id, "web push delivered");
            // RFC 8030 §5: 201 Created, Location naming the push message; §5.2: the
            // TTL the service keeps the message for.
            let mut r = http_util::empty(StatusCode::CREATED);
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(LOCATION, v);
            }
            r.headers_mut().insert("ttl", ttl.into());
            r
        }
        Outcome::Rejected(refused) => {
            let reason = refused.reason;
            app.stats.add(Counter::WebPushRejected(reason));
            tracing::debug!(subscription = id, reason = reason.as_str(), message = %refused.message, "web push rejected");
            let mut r = http_util::json(reason.status(), reason.body(&refused.message));
            if reason.status() == StatusCode::UNAUTHORIZED {
                // RFC 9110 §15.5.2: a 401 names the scheme to use.
                r.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("vapid"));
            }
            if reason == WebPushReason::MethodNotAllowed {
                r.headers_mut().insert(ALLOW, HeaderValue::from_static("POST"));
            }
            r
        }
        Outcome::Injected(fault) => {
            let reason = match fault {
                Fault::Internal => WebPushReason::InternalServerError,
                Fault::Unavailable => WebPushReason::ServiceUnavailable,
                Fault::TooManyRequests => WebPushReason::TooManyRequests,
            };
            app.stats.add(Counter::WebPushInjected(reason));
            tracing::debug!(subscription = id, reason = reason.as_str(), "web push injected fault");
            let mut r = http_util::json(reason.status(), reason.body(reason.describe()));
            if matches!(fault, Fault::TooManyRequests | Fault::Unavailable) {
                r.headers_mut().insert(RETRY_AFTER, app.knobs.retry_after_secs().into());
            }
            r
        }
    }
}

/// The order: method, subscription (404, 410), VAPID (401, 403), size (413), the
/// message headers (400), decryption (400); faults only for a valid message.
fn decide(app: &App, parts: &http::request::Parts, id: &str, body: Result<Bytes, BodyError>) -> Outcome {
    if parts.method != Method::POST {
        return reject(WebPushReason::MethodNotAllowed);
    }
    let Some(sub) = app.webpush.get(id) else {
        return reject(WebPushReason::NotFound);
    };
    if sub.is_expired() {
        return reject(WebPushReason::Gone);
    }
    let auth = parts.headers.get(AUTHORIZATION).map(HeaderValue::as_bytes);
    let signer = match vapid::verify(auth, &sub.origin, sub.restricted_to.as_ref(), http_util::now_secs()) {
        Ok(s) => s,
        Err(refused) => return Outcome::Rejected(refused),
    };
    let body = match body {
        Ok(b) if b.len() <= MAX_BODY_BYTES => b,
        Ok(_) | Err(BodyError::TooLarge) => return reject(WebPushReason::PayloadTooLarge),
        Err(BodyError::Read) => return reject(WebPushReason::Undecryptable),
    };
    let message = match headers::check(&parts.headers, body.len()) {
        Ok(m) => m,
        Err(reason) => return reject(reason),
    };
    // A message without a body carries no payload to decrypt (RFC 8030 §5).
    let plaintext = if body.is_empty() {
        Vec::new()
    } else {
        match sub.keys.decrypt(&body) {
            Ok(p) => p,
            Err(e) => {
                return Outcome::Rejected(Refused { reason: WebPushReason::Undecryptable, message: e.to_string() });
            }
        }
    };
    if let Some(fault) = faults::roll_fault(&app.knobs) {
        return Outcome::Injected(fault);
    }
    let ttl = message.ttl;
    match sub.record(message, plaintext, &signer, http_util::now_millis()) {
        Some(message_id) => Outcome::Delivered { location: format!("{}/wp/m/{message_id}", sub.origin), ttl },
        None => reject(WebPushReason::Gone),
    }
}
