//! The sandbox's own routes for Web Push, standing in for what a browser does:
//!
//! - `POST /webpush/subscriptions` subscribes, like `PushManager.subscribe()`, and
//!   answers the subscription's JSON (`PushSubscription.toJSON()`) plus its `id`;
//! - `GET /webpush/subscriptions/{id}` shows what it received, decrypted;
//! - `DELETE /webpush/subscriptions/{id}` expires it: its endpoint answers 410.

use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};

use super::store::Listener;
use super::vapid;
use crate::app::App;
use crate::http_util::{self, Resp};

pub const COLLECTION: &str = "/webpush/subscriptions";
const MAX_BODY: usize = 64 * 1024;

/// The optional body of `POST /webpush/subscriptions`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribeOptions {
    /// PushSubscriptionOptions.applicationServerKey: base64url of the sender's
    /// P-256 public key. With it the subscription is restricted (RFC 8292 §4):
    /// only VAPID signed by that key is accepted.
    #[serde(default)]
    application_server_key: Option<String>,
    /// "tls" (default: an https endpoint, as browsers get) or "plain" (http).
    #[serde(default)]
    listener: Option<String>,
}

/// `PushSubscription.toJSON()`, as a browser hands it to the application.
#[derive(Debug, Serialize)]
struct SubscriptionJson {
    id: String,
    endpoint: String,
    #[serde(rename = "expirationTime")]
    expiration_time: Option<u64>,
    keys: Keys,
}

#[derive(Debug, Serialize)]
struct Keys {
    p256dh: String,
    auth: String,
}

pub fn is_control_path(path: &str) -> bool {
    path == COLLECTION || path.strip_prefix(COLLECTION).is_some_and(|rest| rest.starts_with('/'))
}

pub async fn handle(app: &App, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_owned();
    let id = path.strip_prefix(COLLECTION).and_then(|rest| rest.strip_prefix('/'));
    match (req.method().clone(), id) {
        (Method::POST, None) => subscribe(app, req).await,
        (Method::GET, Some(id)) => match app.webpush.get(id) {
            Some(sub) => http_util::json_of(StatusCode::OK, &sub.view()),
            None => http_util::control_error(StatusCode::NOT_FOUND, "no such subscription"),
        },
        (Method::DELETE, Some(id)) => match app.webpush.get(id) {
            Some(sub) => {
                sub.expire();
                tracing::info!(subscription = id, "web push subscription expired");
                http_util::json_of(StatusCode::OK, &sub.view())
            }
            None => http_util::control_error(StatusCode::NOT_FOUND, "no such subscription"),
        },
        _ => http_util::control_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
    }
}

async fn subscribe(app: &App, req: Request<Incoming>) -> Resp {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = http_util::read_limited(&parts.headers, body, MAX_BODY).await else {
        return http_util::control_error(StatusCode::BAD_REQUEST, "body too large or unreadable");
    };
    let options: SubscribeOptions = if bytes.iter().all(u8::is_ascii_whitespace) {
        SubscribeOptions::default()
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(o) => o,
            Err(e) => return http_util::control_error(StatusCode::BAD_REQUEST, &e.to_string()),
        }
    };
    let listener = match options.listener.as_deref() {
        None | Some("tls") => Listener::Tls,
        Some("plain") => Listener::Plain,
        Some(other) => {
            let message = format!("listener {other:?} is neither \"tls\" nor \"plain\"");
            return http_util::control_error(StatusCode::BAD_REQUEST, &message);
        }
    };
    let restricted_to = match options.application_server_key.as_deref().map(vapid::decode_point) {
        None => None,
        Some(Some(key)) => Some(key),
        Some(None) => {
            let message = "application_server_key is not a base64url uncompressed P-256 public key";
            return http_util::control_error(StatusCode::BAD_REQUEST, message);
        }
    };
    let sub = match app.webpush.create(listener, restricted_to) {
        Ok(s) => s,
        Err(e) => return http_util::control_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    tracing::debug!(subscription = %sub.id, restricted = restricted_to.is_some(), "web push subscription created");
    let json = SubscriptionJson {
        id: sub.id.clone(),
        endpoint: sub.endpoint(),
        expiration_time: None,
        keys: Keys { p256dh: sub.keys.p256dh(), auth: sub.keys.auth() },
    };
    http_util::json_of(StatusCode::CREATED, &json)
}
