//! Routes shared by both listeners: the provider APIs and the control endpoints.

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use hyper::body::Incoming;

use crate::app::App;
use crate::http_util::{self, Resp};
use crate::knobs::KnobPatch;
use crate::reasons::{ApnsReason, FcmCode};
use crate::stats::Counter;
use crate::webpush::control;
use crate::{apns, fcm, oauth, webpush};

const MAX_CONTROL_BODY: usize = 64 * 1024;

pub async fn route(app: &App, req: Request<Incoming>) -> Resp {
    let path = req.uri().path();
    if path.starts_with(apns::PATH_PREFIX) || path == "/3/device" {
        return apns::handle(app, req).await;
    }
    if path.starts_with("/3/") {
        app.stats.add(Counter::ApnsRequests);
        app.stats.add(Counter::ApnsRejected(ApnsReason::BadPath));
        let reason = ApnsReason::BadPath;
        return http_util::json(reason.status(), Bytes::from_static(reason.body().as_bytes()));
    }
    // The non-APNs handlers are boxed: every request's future is as large as the
    // largest branch and is moved on each spawn, so keeping the APNs path small pays.
    if fcm::project_of(path).is_some() {
        return Box::pin(fcm::handle(app, req)).await;
    }
    if path.starts_with(webpush::PATH_PREFIX) {
        return Box::pin(webpush::handle(app, req)).await;
    }
    if control::is_control_path(path) {
        return Box::pin(control::handle(app, req)).await;
    }
    match path {
        "/token" => Box::pin(oauth::handle(app, req)).await,
        "/health" => http_util::text(StatusCode::OK, "ok"),
        "/stats" if req.method() == Method::GET => {
            let snap = app.stats.snapshot(app.knobs.track_tokens());
            http_util::json_of(StatusCode::OK, &snap)
        }
        "/stats/reset" if req.method() == Method::POST => {
            app.stats.reset();
            tracing::info!("stats reset");
            http_util::json(StatusCode::OK, Bytes::from_static(br#"{"reset":true}"#))
        }
        "/config" if req.method() == Method::GET => http_util::json_of(StatusCode::OK, &app.config_view()),
        "/config" if req.method() == Method::POST => Box::pin(update_config(app, req)).await,
        _ if path.starts_with("/payloads/") && req.method() == Method::GET => {
            match app.stats.payload(&path["/payloads/".len()..]) {
                Some(payload) => http_util::json(StatusCode::OK, payload),
                None => http_util::control_error(
                    StatusCode::NOT_FOUND,
                    "no payload delivered to that token (is --track-tokens on?)",
                ),
            }
        }
        "/tokens" if req.method() == Method::POST => Box::pin(register_tokens(app, req)).await,
        "/stats" | "/stats/reset" | "/config" => {
            http_util::control_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ if path.starts_with("/v1/") => {
            app.stats.add(Counter::FcmRequests);
            app.stats.add(Counter::FcmRejected(FcmCode::NotFound));
            let code = FcmCode::NotFound;
            http_util::json(code.status(), code.body(code.default_message()))
        }
        _ => http_util::control_error(StatusCode::NOT_FOUND, "no such route"),
    }
}

/// `POST /tokens {"<apns token>": "<bundle id>", …}`: which app each token
/// was issued to (see `App::token_apps`).
async fn register_tokens(app: &App, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = http_util::read_limited(&parts.headers, body, MAX_CONTROL_BODY).await else {
        return http_util::control_error(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
    };
    let tokens: std::collections::HashMap<String, String> = match serde_json::from_slice(&bytes) {
        Ok(t) => t,
        Err(e) => return http_util::control_error(StatusCode::BAD_REQUEST, &format!("want {{token: app}}: {e}")),
    };
    let n = tokens.len();
    app.token_apps.lock().unwrap_or_else(|p| p.into_inner()).extend(tokens);
    http_util::json_of(StatusCode::OK, &serde_json::json!({"registered": n}))
}

async fn update_config(app: &App, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let bytes = match http_util::read_limited(&parts.headers, body, MAX_CONTROL_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return http_util::control_error(StatusCode::BAD_REQUEST, "body too large or unreadable");
        }
    };
    let patch: KnobPatch = match serde_json::from_slice(&bytes) {
        Ok(p) => p,
        Err(e) => return http_util::control_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    match app.knobs.apply(&patch) {
        Ok(values) => {
            tracing::info!(knobs = ?values, "config updated");
            http_util::json_of(StatusCode::OK, &app.config_view())
        }
        Err(e) => http_util::control_error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}
