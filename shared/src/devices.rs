//! The devices table: one item per user with their devices and push settings.
//!
//! Item: `user_id` (S), `devices` (L of M: `platform`, `token`, `app`,
//! `updated_at`), `push_enabled` (BOOL, default true), `muted_categories` (SS).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use futures::stream::{self, StreamExt, TryStreamExt};
use rand::RngExt;

use crate::batch::{Device, Platform};

pub mod registry;

pub use registry::{DEFAULT_MAX_DEVICES, DeviceRegister, DeviceUnregister, Evicted, Registered, Registration};

/// BatchGetItem takes at most 100 keys.
pub const MAX_KEYS_PER_CALL: usize = 100;
const MAX_ATTEMPTS: u32 = 8;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserDevices {
    pub devices: Vec<Device>,
    pub push_enabled: bool,
    pub muted_categories: HashSet<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("DynamoDB {operation} on {table}: {message}")]
    Dynamo { operation: &'static str, table: String, message: String },
    #[error("DynamoDB kept returning unprocessed keys for {table} after {MAX_ATTEMPTS} attempts")]
    Unprocessed { table: String },
    #[error("the devices of {user_id} in {table} kept changing under {attempts} conditional writes")]
    Contended { table: String, user_id: String, attempts: u32 },
}

/// Looks up users' devices; users with no item are absent from the map.
pub trait DeviceLookup: Send + Sync {
    fn lookup(
        &self,
        user_ids: &[String],
    ) -> impl Future<Output = Result<HashMap<String, UserDevices>, DeviceError>> + Send;
}

/// Removes a dead token, only if it is still the same token.
pub trait DevicePrune: Send + Sync {
    fn prune(&self, user_id: &str, token: &str) -> impl Future<Output = Result<bool, DeviceError>> + Send;
}

pub struct DynamoDevices {
    client: aws_sdk_dynamodb::Client,
    table: String,
    parallel_calls: usize,
}

impl DynamoDevices {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), parallel_calls: 8 }
    }

    async fn get_chunk(&self, ids: &[String]) -> Result<Vec<HashMap<String, AttributeValue>>, DeviceError> {
        let keys = ids
            .iter()
            .map(|id| HashMap::from([("user_id".to_owned(), AttributeValue::S(id.clone()))]))
            .collect::<Vec<_>>();
        let mut request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .projection_expression("user_id, devices, push_enabled, muted_categories")
            .build()
            .map_err(|e| self.err("BatchGetItem", e))?;
        let mut items = Vec::with_capacity(ids.len());
        for attempt in 0..MAX_ATTEMPTS {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request.clone())
                .send()
                .await
                .map_err(|e| self.err("BatchGetItem", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
            if let Some(mut responses) = out.responses {
                items.extend(responses.remove(&self.table).unwrap_or_default());
            }
            match out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                Some(rest) if !rest.keys.is_empty() => {
                    request = rest;
                    tokio::time::sleep(backoff(attempt)).await;
                }
                _ => return Ok(items),
            }
        }
        Err(DeviceError::Unprocessed { table: self.table.clone() })
    }

    fn err(&self, operation: &'static str, e: impl std::fmt::Display) -> DeviceError {
        DeviceError::Dynamo { operation, table: self.table.clone(), message: e.to_string() }
    }
}

/// Exponential backoff with jitter, for throttled DynamoDB calls.
pub fn backoff(attempt: u32) -> Duration {
    let ceiling = 50u64 << attempt.min(10);
    Duration::from_millis(rand::rng().random_range(ceiling / 2..=ceiling).min(5_000))
}

impl DeviceLookup for DynamoDevices {
    async fn lookup(&self, user_ids: &[String]) -> Result<HashMap<String, UserDevices>, DeviceError> {
        let unique: Vec<String> = user_ids.iter().cloned().collect::<HashSet<_>>().into_iter().collect();
        let chunks: Vec<Vec<String>> = unique.chunks(MAX_KEYS_PER_CALL).map(<[String]>::to_vec).collect();
        let chunks: Vec<Vec<HashMap<String, AttributeValue>>> = stream::iter(chunks)
            .map(|chunk| async move { self.get_chunk(&chunk).await })
            .buffer_unordered(self.parallel_calls)
            .try_collect()
            .await?;
        Ok(chunks.into_iter().flatten().filter_map(|item| parse_item(&item)).collect())
    }
}

impl DevicePrune for DynamoDevices {
    async fn prune(&self, user_id: &str, token: &str) -> Result<bool, DeviceError> {
        // Gives up quietly after a few races: the token is pruned again the
        // next time a send finds it dead.
        let removal = self.remove_token(user_id, token, 5, None).await?;
        Ok(matches!(removal, registry::Removal::Removed))
    }
}

/// (platform, token, app) of each device in an item; malformed ones are skipped.
fn device_list(item: &HashMap<String, AttributeValue>) -> Vec<(String, String, Option<String>)> {
    let Some(AttributeValue::L(list)) = item.get("devices") else { return Vec::new() };
    list.iter()
        .filter_map(|d| {
            let m = d.as_m().ok()?;
            let platform = m.get("platform")?.as_s().ok()?.clone();
            let token = m.get("token")?.as_s().ok()?.clone();
            let app = m.get("app").and_then(|a| a.as_s().ok()).cloned();
            Some((platform, token, app))
        })
        .collect()
}

fn parse_item(item: &HashMap<String, AttributeValue>) -> Option<(String, UserDevices)> {
    let user_id = item.get("user_id")?.as_s().ok()?.clone();
    let devices = device_list(item)
        .into_iter()
        .filter_map(|(p, token, _)| Some(Device { platform: Platform::parse(&p)?, token }))
        .collect();
    let push_enabled = item.get("push_enabled").and_then(|v| v.as_bool().ok()).copied().unwrap_or(true);
    let muted_categories = match item.get("muted_categories") {
        Some(AttributeValue::Ss(s)) => s.iter().cloned().collect(),
        Some(AttributeValue::L(l)) => l.iter().filter_map(|v| v.as_s().ok().cloned()).collect(),
        _ => HashSet::new(),
    };
    Some((user_id, UserDevices { devices, push_enabled, muted_categories }))
}

/// An in-memory devices table, for tests and offline runs.
#[derive(Default)]
pub struct MemoryDevices {
    pub users: Mutex<HashMap<String, UserDevices>>,
    /// App and time of devices registered through `DeviceRegister`, keyed by
    /// (user, token): `UserDevices` carries only what send-batch needs.
    details: Mutex<HashMap<(String, String), Registration>>,
}

impl MemoryDevices {
    pub fn with(users: impl IntoIterator<Item = (String, UserDevices)>) -> Self {
        Self { users: Mutex::new(users.into_iter().collect()), details: Mutex::default() }
    }
}

impl DeviceLookup for MemoryDevices {
    async fn lookup(&self, user_ids: &[String]) -> Result<HashMap<String, UserDevices>, DeviceError> {
        let users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        Ok(user_ids.iter().filter_map(|id| users.get(id).map(|u| (id.clone(), u.clone()))).collect())
    }
}

impl DevicePrune for MemoryDevices {
    async fn prune(&self, user_id: &str, token: &str) -> Result<bool, DeviceError> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let Some(user) = users.get_mut(user_id) else { return Ok(false) };
        let before = user.devices.len();
        user.devices.retain(|d| d.token != token);
        Ok(user.devices.len() < before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_parse_with_defaults_and_skip_bad_devices() {
        let device = |p: &str, t: &str| {
            AttributeValue::M(HashMap::from([
                ("platform".to_owned(), AttributeValue::S(p.into())),
                ("token".to_owned(), AttributeValue::S(t.into())),
            ]))
        };
        let item = HashMap::from([
            ("user_id".to_owned(), AttributeValue::S("u-1".into())),
            (
                "devices".to_owned(),
                AttributeValue::L(vec![device("ios", "a"), device("windows", "b"), device("android", "c")]),
            ),
            ("muted_categories".to_owned(), AttributeValue::Ss(vec!["promo".into()])),
        ]);
        let (id, user) = parse_item(&item).unwrap();
        assert_eq!(id, "u-1");
        assert!(user.push_enabled);
        assert_eq!(user.devices.len(), 2);
        assert!(user.muted_categories.contains("promo"));
    }

    #[tokio::test]
    async fn memory_prune_removes_only_that_token() {
        let mem = MemoryDevices::with([(
            "u".to_owned(),
            UserDevices {
                devices: vec![
                    Device { platform: Platform::Ios, token: "a".into() },
                    Device { platform: Platform::Ios, token: "b".into() },
                ],
                push_enabled: true,
                muted_categories: HashSet::new(),
            },
        )]);
        assert!(mem.prune("u", "a").await.unwrap());
        assert!(!mem.prune("u", "a").await.unwrap());
        assert_eq!(mem.lookup(&["u".into()]).await.unwrap()["u"].devices.len(), 1);
    }
}
