//! An issuer's signing keys, found the way API Gateway finds them: the OIDC
//! discovery document at `<issuer>/.well-known/openid-configuration` names
//! the `jwks_uri`, whose key set is cached (API Gateway documents "up to one
//! hour") and fetched again when a token names a key the cache lacks, which is
//! how a rotated key is picked up.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{Request, Uri};
use http_body_util::{BodyExt, Limited};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::clock::Clock;
use crate::http::{BoxError, HttpClient, empty};

pub const KEY_CACHE_TTL: Duration = Duration::from_secs(3600);
/// Discovery documents and key sets are small; anything bigger is not one.
const MAX_DOCUMENT: usize = 1024 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("{url:?} is not a URL the plane can fetch (http:// only)")]
    Url { url: String },
    #[error("GET {url}: {source}")]
    Request {
        url: String,
        #[source]
        source: BoxError,
    },
    #[error("GET {url}: no answer within {} s", FETCH_TIMEOUT.as_secs())]
    Timeout { url: String },
    #[error("GET {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("GET {url}: {source}")]
    Json {
        url: String,
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Deserialize)]
struct Discovery {
    jwks_uri: String,
}

#[derive(Debug)]
struct Cached {
    fetched: SystemTime,
    keys: JwkSet,
}

#[derive(Debug)]
pub struct IssuerKeys {
    issuer: String,
    client: HttpClient,
    clock: Arc<dyn Clock>,
    // A tokio mutex held across the fetch: concurrent requests that miss
    // the cache wait for one fetch instead of each making their own.
    cache: tokio::sync::Mutex<Option<Cached>>,
}

impl IssuerKeys {
    pub fn new(issuer: String, client: HttpClient, clock: Arc<dyn Clock>) -> Self {
        Self { issuer, client, clock, cache: tokio::sync::Mutex::new(None) }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key with id `kid`, or `None` when the issuer does not publish it.
    pub async fn find(&self, kid: &str) -> Result<Option<Jwk>, JwksError> {
        let mut cache = self.cache.lock().await;
        let now = self.clock.now();
        if let Some(cached) = cache.as_ref()
            && now.duration_since(cached.fetched).is_ok_and(|age| age < KEY_CACHE_TTL)
            && let Some(key) = cached.keys.find(kid)
        {
            return Ok(Some(key.clone()));
        }
        let keys = self.fetch().await?;
        let found = keys.find(kid).cloned();
        *cache = Some(Cached { fetched: now, keys });
        Ok(found)
    }

    async fn fetch(&self) -> Result<JwkSet, JwksError> {
        let discovery_url = format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'));
        let discovery: Discovery = self.get_json(&discovery_url).await?;
        self.get_json(&discovery.jwks_uri).await
    }

    async fn get_json<T: DeserializeOwned>(&self, url: &str) -> Result<T, JwksError> {
        let uri: Uri = url.parse().map_err(|_| JwksError::Url { url: url.to_owned() })?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(JwksError::Url { url: url.to_owned() });
        }
        let request = Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(empty())
            .map_err(|e| JwksError::Request { url: url.to_owned(), source: Box::new(e) })?;
        let response = tokio::time::timeout(FETCH_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| JwksError::Timeout { url: url.to_owned() })?
            .map_err(|e| JwksError::Request { url: url.to_owned(), source: Box::new(e) })?;
        let status = response.status();
        if !status.is_success() {
            return Err(JwksError::Status { url: url.to_owned(), status: status.as_u16() });
        }
        let body = Limited::new(response.into_body(), MAX_DOCUMENT)
            .collect()
            .await
            .map_err(|source| JwksError::Request { url: url.to_owned(), source })?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|source| JwksError::Json { url: url.to_owned(), source })
    }
}
