//! The request store's ports, the in-memory adapter, and the one way to
//! change a request: read, apply a pure change, write conditional on the
//! version read, and start again if someone else wrote in between.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use bytes::Bytes;

use super::model::ApprovalRequest;
use super::transition::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Dynamo(#[from] crate::dynamo::DynamoError),
    #[error("request {request_id} is corrupt: {message}")]
    Corrupt { request_id: String, message: String },
    #[error("request {request_id} cannot be encoded")]
    Encode {
        request_id: String,
        #[source]
        source: serde_json::Error,
    },
}

pub trait RequestGet: Send + Sync {
    fn get(&self, request_id: &str) -> impl Future<Output = Result<Option<ApprovalRequest>, StoreError>> + Send;
    /// The uploaded audience file of an `Inline` request.
    fn audience(&self, request_id: &str) -> impl Future<Output = Result<Option<Bytes>, StoreError>> + Send;
}

pub trait RequestPut: Send + Sync {
    /// Creates the request (with its uploaded audience, if any); false if
    /// the id exists.
    fn create(
        &self,
        request: &ApprovalRequest,
        audience: Option<Bytes>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Replaces the request if its version is still `expected`.
    fn replace(
        &self,
        request: &ApprovalRequest,
        expected: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error("no request {0}")]
    NotFound(String),
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("request {0} kept changing under us; try again")]
    Contended(String),
}

/// Applies `change` to the current request and writes it conditionally;
/// returns what was written. The change sees the latest version on every
/// attempt, so a refusal is always about the current state.
pub async fn update<S, F>(store: &S, request_id: &str, mut change: F) -> Result<ApprovalRequest, UpdateError>
where
    S: RequestGet + RequestPut,
    F: FnMut(&ApprovalRequest) -> Result<ApprovalRequest, Refusal> + Send,
{
    for _ in 0..8 {
        let current = store.get(request_id).await?.ok_or_else(|| UpdateError::NotFound(request_id.to_owned()))?;
        let mut next = change(&current)?;
        next.version = current.version + 1;
        if store.replace(&next, current.version).await? {
            return Ok(next);
        }
    }
    Err(UpdateError::Contended(request_id.to_owned()))
}

/// Requests in memory, with the same conditional semantics.
#[derive(Default)]
pub struct MemoryRequests {
    items: Mutex<HashMap<String, (ApprovalRequest, Option<Bytes>)>>,
}

impl MemoryRequests {
    pub fn all(&self) -> Vec<ApprovalRequest> {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).values().map(|(r, _)| r.clone()).collect()
    }
}

impl RequestGet for MemoryRequests {
    async fn get(&self, request_id: &str) -> Result<Option<ApprovalRequest>, StoreError> {
        Ok(self.items.lock().unwrap_or_else(|p| p.into_inner()).get(request_id).map(|(r, _)| r.clone()))
    }

    async fn audience(&self, request_id: &str) -> Result<Option<Bytes>, StoreError> {
        Ok(self.items.lock().unwrap_or_else(|p| p.into_inner()).get(request_id).and_then(|(_, a)| a.clone()))
    }
}

impl RequestPut for MemoryRequests {
    async fn create(&self, request: &ApprovalRequest, audience: Option<Bytes>) -> Result<bool, StoreError> {
        let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        if items.contains_key(&request.request_id) {
            return Ok(false);
        }
        items.insert(request.request_id.clone(), (request.clone(), audience));
        Ok(true)
    }

    async fn replace(&self, request: &ApprovalRequest, expected: u64) -> Result<bool, StoreError> {
        let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        match items.get_mut(&request.request_id) {
            Some((current, _)) if current.version == expected => {
                *current = request.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
