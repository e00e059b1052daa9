//! FCM HTTP v1: `POST /v1/projects/{project}/messages:send`, one message per
//! request, OAuth2 service-account tokens, and a rate limit per minute.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gcp_auth::{CustomServiceAccount, Token, TokenProvider};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use super::h2::{H2Pool, PoolOptions, TransportError};
use super::{Outcome, Receipt};
use crate::metrics::{self, Provider};
use crate::quota::DynSharedQuota;

pub const DEFAULT_ENDPOINT: &str = "https://fcm.googleapis.com";
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// FCM's default quota per project.
pub const DEFAULT_RATE_PER_MINUTE: u32 = 600_000;

#[derive(Debug, thiserror::Error)]
pub enum FcmError {
    #[error("the FCM service account is not valid: {0}")]
    ServiceAccount(String),
    #[error("the FCM project id is unknown: set FCM_PROJECT_ID or use a key file with project_id")]
    NoProject,
    #[error("the FCM project id {0:?} cannot be part of a URL")]
    Project(String),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Caches the access token, as the ready-made `authorization` value. gcp_auth
/// caches too, but lets every concurrent caller fetch its own token when the
/// cache is empty; with a thousand requests in flight that is a thousand
/// token requests.
struct Auth {
    account: CustomServiceAccount,
    current: RwLock<Option<Bearer>>,
    refresh: Mutex<()>,
}

#[derive(Clone)]
struct Bearer {
    token: Arc<Token>,
    header: HeaderValue,
}

impl Bearer {
    fn new(token: Arc<Token>) -> Result<Self, String> {
        let mut header = HeaderValue::try_from(format!("Bearer {}", token.as_str()))
            .map_err(|_| "the access token is not a valid header value".to_owned())?;
        header.set_sensitive(true);
        Ok(Bearer { token, header })
    }
}

impl Auth {
    async fn bearer(&self) -> Result<HeaderValue, String> {
        if let Some(header) = self.unexpired().await {
            return Ok(header);
        }
        let _one_at_a_time = self.refresh.lock().await;
        // Another request may have fetched it while this one waited.
        if let Some(header) = self.unexpired().await {
            return Ok(header);
        }
        let bearer = Bearer::new(self.account.token(&[SCOPE]).await.map_err(|e| e.to_string())?)?;
        *self.current.write().await = Some(bearer.clone());
        Ok(bearer.header)
    }

    async fn unexpired(&self) -> Option<HeaderValue> {
        self.current.read().await.as_ref().filter(|b| !b.token.has_expired()).map(|b| b.header.clone())
    }

    async fn forget(&self) {
        *self.current.write().await = None;
    }
}

pub struct FcmClient {
    pool: H2Pool,
    /// Parsed once: every message goes to the same URL.
    url: Uri,
    auth: Auth,
    limiter: Option<DefaultDirectRateLimiter>,
    shared_quota: Option<DynSharedQuota>,
    /// Read each delivery's message name (see `with_receipts`).
    receipts: bool,
}

impl FcmClient {
    /// `service_account_json` is the key file's content; `project` overrides its `project_id`.
    pub fn new(
        endpoint: &str,
        tls: Arc<rustls::ClientConfig>,
        options: &PoolOptions,
        service_account_json: &str,
        project: Option<&str>,
        rate_per_minute: Option<u32>,
    ) -> Result<Self, FcmError> {
        let account = CustomServiceAccount::from_json(service_account_json)
            .map_err(|e| FcmError::ServiceAccount(e.to_string()))?;
        let project = project
            .map(str::to_owned)
            .or_else(|| account.project_id().map(str::to_owned))
            .ok_or(FcmError::NoProject)?;
        let pool = H2Pool::new(endpoint, tls, options)?.for_provider(Provider::Fcm);
        let url = format!("{}/v1/projects/{project}/messages:send", pool.origin());
        let url = Uri::try_from(url.as_str()).map_err(|_| FcmError::Project(project.clone()))?;
        let limiter = rate_per_minute.and_then(NonZeroU32::new).map(|per_minute| {
            // Smooth over the minute: a burst of at most one second's share.
            let burst = NonZeroU32::new(per_minute.get() / 60).unwrap_or(NonZeroU32::MIN);
            RateLimiter::direct(Quota::per_minute(per_minute).allow_burst(burst))
        });
        Ok(Self {
            pool,
            url,
            auth: Auth { account, current: RwLock::new(None), refresh: Mutex::new(()) },
            limiter,
            shared_quota: None,
            receipts: false,
        })
    }

    /// Also draws every request from the project's quota shared with every
    /// other sender (see `crate::quota`).
    pub fn with_shared_quota(mut self, quota: DynSharedQuota) -> Self {
        self.shared_quota = Some(quota);
        self
    }

    /// Keeps FCM's message name for each delivery in its
    /// `Outcome::Delivered`; off, a success's body is not parsed.
    pub fn with_receipts(mut self, receipts: bool) -> Self {
        self.receipts = receipts;
        self
    }

    /// Sends one `{"message": ...}` body.
    pub async fn send(&self, body: Bytes) -> Outcome {
        if self.limiter.is_some() || self.shared_quota.is_some() {
            let waiting = Instant::now();
            if let Some(limiter) = &self.limiter {
                limiter.until_ready().await;
            }
            if let Some(quota) = &self.shared_quota {
                quota.take_one().await;
            }
            metrics::throttled(Provider::Fcm, waiting.elapsed());
        }
        let outcome = self.request(body).await;
        metrics::answer(Provider::Fcm, outcome.class());
        outcome
    }

    async fn request(&self, body: Bytes) -> Outcome {
        let authorization = match self.auth.bearer().await {
            Ok(t) => t,
            Err(e) => return Outcome::Retry { reason: format!("OAuth token: {e}"), after: None },
        };
        let mut request = Request::new(body);
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.url.clone();
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, authorization);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match self.pool.send(request).await {
            Ok(response) if !self.receipts && response.status().is_success() => Outcome::Delivered(Receipt::default()),
            Ok(response) => classify(response.status(), response.body(), super::retry_after(response.headers())),
            Err(e) => Outcome::Retry { reason: e.to_string(), after: None },
        }
    }

    /// Called when a send came back [`Outcome::AuthExpired`].
    pub async fn renew_token(&self) {
        self.auth.forget().await;
    }
}

/// Maps FCM's status and google.rpc error to an outcome.
pub fn classify(status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> Outcome {
    if status.is_success() {
        let name = serde_json::from_slice::<Value>(body).ok().and_then(|v| v.get("name")?.as_str().map(str::to_owned));
        return Outcome::Delivered(Receipt { fcm_name: name, ..Receipt::default() });
    }
    let error = serde_json::from_slice::<Value>(body).ok().and_then(|v| v.get("error").cloned()).unwrap_or(Value::Null);
    let details = error.get("details").and_then(Value::as_array).cloned().unwrap_or_default();
    let code = details
        .iter()
        .find_map(|d| d.get("errorCode").and_then(Value::as_str))
        .or_else(|| error.get("status").and_then(Value::as_str))
        .unwrap_or("")
        .to_owned();
    let message = error.get("message").and_then(Value::as_str).unwrap_or("");
    let reason = if code.is_empty() { format!("HTTP {}", status.as_u16()) } else { code.clone() };
    // INVALID_ARGUMENT means a dead token only when it is about the token;
    // otherwise it is our message, and pruning would delete live devices.
    let about_token = details.iter().any(|d| {
        d.get("fieldViolations").and_then(Value::as_array).is_some_and(|v| {
            v.iter().any(|f| f.get("field").and_then(Value::as_str).is_some_and(|f| f.contains("token")))
        })
    }) || message.to_ascii_lowercase().contains("registration token");
    match (status.as_u16(), code.as_str()) {
        (_, "UNREGISTERED") => Outcome::Dead(reason),
        (_, "INVALID_ARGUMENT") if about_token => Outcome::Dead(reason),
        (401, _) | (_, "UNAUTHENTICATED") => Outcome::AuthExpired(reason),
        (429 | 500 | 502 | 503 | 504, _) | (_, "QUOTA_EXCEEDED" | "UNAVAILABLE" | "INTERNAL") => {
            Outcome::Retry { reason, after: retry_after }
        }
        _ => Outcome::Failed(if message.is_empty() { reason } else { format!("{reason}: {message}") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(status: u16, error: Value) -> Outcome {
        classify(StatusCode::from_u16(status).unwrap(), json!({ "error": error }).to_string().as_bytes(), None)
    }

    fn fcm(code: &str) -> Value {
        json!([{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}])
    }

    #[test]
    fn every_fcm_error_code_maps() {
        let receipt = Receipt { fcm_name: Some("projects/p/messages/1".into()), ..Receipt::default() };
        assert_eq!(classify(StatusCode::OK, br#"{"name":"projects/p/messages/1"}"#, None), Outcome::Delivered(receipt));
        assert!(matches!(c(404, json!({"status": "NOT_FOUND", "details": fcm("UNREGISTERED")})), Outcome::Dead(_)));
        let token_violation = json!({"status": "INVALID_ARGUMENT", "message": "The registration token is not a valid FCM registration token",
            "details": fcm("INVALID_ARGUMENT")});
        assert!(matches!(c(400, token_violation), Outcome::Dead(_)));
        let field = json!({"status": "INVALID_ARGUMENT", "message": "Invalid value",
            "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": "message.token"}]}]});
        assert!(matches!(c(400, field), Outcome::Dead(_)));
        let ours = json!({"status": "INVALID_ARGUMENT", "message": "Invalid JSON payload received. Unknown name \"x\"",
            "details": fcm("INVALID_ARGUMENT")});
        assert!(matches!(c(400, ours), Outcome::Failed(_)), "a bad message must never prune");
        assert!(matches!(
            c(429, json!({"status": "RESOURCE_EXHAUSTED", "details": fcm("QUOTA_EXCEEDED")})),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            c(503, json!({"status": "UNAVAILABLE", "details": fcm("UNAVAILABLE")})),
            Outcome::Retry { .. }
        ));
        assert!(matches!(c(500, json!({"status": "INTERNAL", "details": fcm("INTERNAL")})), Outcome::Retry { .. }));
        assert!(matches!(c(401, json!({"status": "UNAUTHENTICATED"})), Outcome::AuthExpired(_)));
        assert!(matches!(
            c(403, json!({"status": "PERMISSION_DENIED", "details": fcm("SENDER_ID_MISMATCH")})),
            Outcome::Failed(_)
        ));
        assert!(matches!(classify(StatusCode::BAD_GATEWAY, b"<html>", None), Outcome::Retry { .. }));
        assert!(matches!(classify(StatusCode::NOT_FOUND, b"<html>", None), Outcome::Failed(_)));
    }
}
