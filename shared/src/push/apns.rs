//! APNs provider API: `POST /3/device/{token}` with an ES256 provider token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::sync::RwLock;

use http::HeaderValue;
use http::header::{AUTHORIZATION, HeaderName};

use super::h2::{H2Pool, PoolOptions, TransportError};
use super::{Outcome, Receipt, header_text};
use crate::clock::now_secs;
use crate::metrics::{self, Provider};
use crate::quota::DynSharedQuota;
use crate::render::ApnsHeaders;

pub const DEFAULT_ENDPOINT: &str = "https://api.push.apple.com";
/// Where tokens of apps built for development are valid.
pub const DEVELOPMENT_ENDPOINT: &str = "https://api.sandbox.push.apple.com";

/// Apple refuses tokens older than an hour and answers
/// TooManyProviderTokenUpdates to tokens renewed more often than every 20
/// minutes; 50 minutes sits safely inside that window.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(50 * 60);
const MIN_TOKEN_AGE_FOR_FORCED_REFRESH: Duration = Duration::from_secs(20 * 60);

#[derive(Debug, thiserror::Error)]
pub enum ApnsError {
    #[error("the APNs key is not a PKCS#8 EC private key (.p8): {0}")]
    Key(String),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// Signs and caches the provider token, as the ready-made header value.
pub struct TokenSigner {
    key: EncodingKey,
    key_id: String,
    team_id: String,
    current: RwLock<(HeaderValue, Instant)>,
}

impl TokenSigner {
    pub fn new(p8_pem: &[u8], key_id: &str, team_id: &str) -> Result<Self, ApnsError> {
        let key = EncodingKey::from_ec_pem(p8_pem).map_err(|e| ApnsError::Key(e.to_string()))?;
        let first = sign(&key, key_id, team_id)?;
        Ok(Self {
            key,
            key_id: key_id.to_owned(),
            team_id: team_id.to_owned(),
            current: RwLock::new((first, Instant::now())),
        })
    }

    /// `bearer <jwt>`, renewed when it is older than [`TOKEN_LIFETIME`].
    pub fn authorization(&self) -> Result<HeaderValue, ApnsError> {
        {
            let current = self.current.read().unwrap_or_else(|p| p.into_inner());
            if current.1.elapsed() < TOKEN_LIFETIME {
                return Ok(current.0.clone());
            }
        }
        self.refresh(TOKEN_LIFETIME)
    }

    /// After ExpiredProviderToken: renew, but never more often than Apple allows.
    pub fn refresh_after_rejection(&self) -> Result<HeaderValue, ApnsError> {
        self.refresh(MIN_TOKEN_AGE_FOR_FORCED_REFRESH)
    }

    fn refresh(&self, min_age: Duration) -> Result<HeaderValue, ApnsError> {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if current.1.elapsed() >= min_age {
            *current = (sign(&self.key, &self.key_id, &self.team_id)?, Instant::now());
        }
        Ok(current.0.clone())
    }
}

fn sign(key: &EncodingKey, key_id: &str, team_id: &str) -> Result<HeaderValue, ApnsError> {
    #[derive(serde::Serialize)]
    struct Claims<'a> {
        iss: &'a str,
        iat: u64,
    }
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key_id.to_owned());
    let iat = now_secs();
    let jwt =
        jsonwebtoken::encode(&header, &Claims { iss: team_id, iat }, key).map_err(|e| ApnsError::Key(e.to_string()))?;
    let mut value = HeaderValue::from_str(&format!("bearer {jwt}")).map_err(|e| ApnsError::Key(e.to_string()))?;
    value.set_sensitive(true);
    Ok(value)
}

pub struct ApnsClient {
    pool: H2Pool,
    signer: TokenSigner,
    shared_quota: Option<DynSharedQuota>,
    /// Read each delivery's `apns-id` (see `with_receipts`).
    receipts: bool,
}

impl ApnsClient {
    pub fn new(
        endpoint: &str,
        tls: Arc<rustls::ClientConfig>,
        options: &PoolOptions,
        signer: TokenSigner,
    ) -> Result<Self, ApnsError> {
        Ok(Self {
            pool: H2Pool::new(endpoint, tls, options)?.for_provider(Provider::Apns),
            signer,
            shared_quota: None,
            receipts: false,
        })
    }

    /// Draws every request from a rate shared with every other sender. APNs
    /// publishes no quota, so this is off unless an operator wants to cap
    /// the load (see `crate::quota`).
    pub fn with_shared_quota(mut self, quota: DynSharedQuota) -> Self {
        self.shared_quota = Some(quota);
        self
    }

    /// Keeps what APNs names each delivery in its `Outcome::Delivered`;
    /// off, nothing of the answer is read beyond its status.
    pub fn with_receipts(mut self, receipts: bool) -> Self {
        self.receipts = receipts;
        self
    }

    /// Sends one payload to `token` as the app `topic` names.
    pub async fn send(&self, token: &str, payload: Bytes, headers: &ApnsHeaders, topic: &HeaderValue) -> Outcome {
        if let Some(quota) = &self.shared_quota {
            let waiting = Instant::now();
            quota.take_one().await;
            metrics::throttled(Provider::Apns, waiting.elapsed());
        }
        let outcome = self.request(token, payload, headers, topic).await;
        metrics::answer(Provider::Apns, outcome.class());
        outcome
    }

    async fn request(&self, token: &str, payload: Bytes, headers: &ApnsHeaders, topic: &HeaderValue) -> Outcome {
        let authorization = match self.signer.authorization() {
            Ok(t) => t,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let mut path = String::with_capacity(self.pool.origin().len() + 11 + token.len());
        path.push_str(self.pool.origin());
        path.push_str("/3/device/");
        path.push_str(token);
        let mut request = match Request::post(path).body(payload) {
            Ok(r) => r,
            Err(e) => return Outcome::Failed(format!("cannot build the request: {e}")),
        };
        // A Live Activity goes to the app's `.push-type.liveactivity` topic.
        let topic = match headers.topic_for(topic) {
            Ok(t) => t,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let wire = &headers.wire;
        let map = request.headers_mut();
        map.insert(AUTHORIZATION, authorization);
        map.insert(HeaderName::from_static("apns-topic"), topic);
        map.insert(HeaderName::from_static("apns-push-type"), wire.push_type.clone());
        map.insert(HeaderName::from_static("apns-priority"), wire.priority.clone());
        if let Some(c) = &wire.collapse_id {
            map.insert(HeaderName::from_static("apns-collapse-id"), c.clone());
        }
        if let Some(ttl) = headers.ttl_seconds {
            map.insert(HeaderName::from_static("apns-expiration"), HeaderValue::from(now_secs() + ttl));
        }
        match self.pool.send(request).await {
            Ok(response) => {
                let headers = response.headers();
                classify(response.status(), response.body(), super::retry_after(headers)).with_receipt(
                    self.receipts,
                    || Receipt {
                        apns_id: header_text(headers, "apns-id"),
                        apns_unique_id: header_text(headers, "apns-unique-id"),
                        ..Receipt::default()
                    },
                )
            }
            Err(e) => Outcome::Retry { reason: e.to_string(), after: None },
        }
    }

    /// Called when a send came back [`Outcome::AuthExpired`].
    pub async fn renew_token(&self) {
        if let Err(e) = self.signer.refresh_after_rejection() {
            tracing::error!(error = %e, "cannot renew the APNs provider token");
        }
    }
}

/// Maps Apple's status and `reason` to an outcome.
pub fn classify(status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> Outcome {
    if status == StatusCode::OK {
        return Outcome::Delivered(Receipt::default());
    }
    let reason = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(str::to_owned))
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    match (status.as_u16(), reason.as_str()) {
        // DeviceTokenNotForTopic is a live token sent as the wrong app: a
        // failure to record, never a reason to delete the device.
        (410, _) | (400, "BadDeviceToken") => Outcome::Dead(reason),
        (403, "ExpiredProviderToken") => Outcome::AuthExpired(reason),
        (429, _) | (500, _) | (503, _) => Outcome::Retry { reason, after: retry_after },
        _ => Outcome::Failed(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(status: u16, reason: &str) -> Outcome {
        classify(StatusCode::from_u16(status).unwrap(), format!(r#"{{"reason":"{reason}"}}"#).as_bytes(), None)
    }

    #[test]
    fn every_apple_reason_maps() {
        assert_eq!(classify(StatusCode::OK, b"", None), Outcome::Delivered(Receipt::default()));
        assert!(matches!(c(410, "Unregistered"), Outcome::Dead(_)));
        assert!(matches!(c(400, "BadDeviceToken"), Outcome::Dead(_)));
        assert_eq!(c(400, "DeviceTokenNotForTopic"), Outcome::Failed("DeviceTokenNotForTopic".into()), "the wrong app");
        assert!(matches!(c(403, "ExpiredProviderToken"), Outcome::AuthExpired(_)));
        for (s, r) in [(429, "TooManyRequests"), (500, "InternalServerError"), (503, "ServiceUnavailable")] {
            assert!(matches!(c(s, r), Outcome::Retry { .. }), "{s} {r}");
        }
        for (s, r) in [
            (413, "PayloadTooLarge"),
            (400, "MissingTopic"),
            (400, "TopicDisallowed"),
            (403, "InvalidProviderToken"),
            (429, "TooManyProviderTokenUpdates"),
        ] {
            let o = c(s, r);
            if s == 429 {
                assert!(matches!(o, Outcome::Retry { .. }));
            } else {
                assert_eq!(o, Outcome::Failed(r.into()), "{s} {r}");
            }
        }
        let o = classify(StatusCode::TOO_MANY_REQUESTS, b"{}", Some(Duration::from_secs(3)));
        assert_eq!(o, Outcome::Retry { reason: "HTTP 429".into(), after: Some(Duration::from_secs(3)) });
    }
}
