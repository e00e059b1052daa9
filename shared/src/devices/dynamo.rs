//! The devices table in DynamoDB.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use futures::stream::{self, StreamExt, TryStreamExt};
use rand::RngExt;

use super::item::{map_str, parse_item};
use super::model::{Registered, Registration, UserDevices};
use super::ownership::{self, Removal, TokenKey, is_token_item};
use super::ports::{
    DeviceError, DeviceLookup, DevicePrune, DeviceRegister, DeviceUnregister, MAX_LOOKUP_ATTEMPTS, MAX_WRITE_ATTEMPTS,
};
use crate::batch::Platform;
use crate::dynamo::{DynamoError, Item, condition_failed, s};

/// BatchGetItem takes at most 100 keys.
pub const MAX_KEYS_PER_CALL: usize = 100;

pub struct DynamoDevices {
    pub(super) client: aws_sdk_dynamodb::Client,
    pub(super) table: String,
    parallel_calls: usize,
}

impl DynamoDevices {
    /// REMOVE the device at `index` of the user's list, on the condition
    /// that it is still `token` (the list may have moved since it was read).
    fn remove_at(&self, user_id: &str, index: usize, token: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("user_id", s(user_id))
            .update_expression(format!("REMOVE devices[{index}]"))
            .condition_expression(format!("devices[{index}].#t = :token"))
            .expression_attribute_names("#t", "token")
            .expression_attribute_values(":token", s(token))
    }

    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into(), parallel_calls: 8 }
    }

    async fn get_chunk(&self, ids: &[String]) -> Result<Vec<Item>, DeviceError> {
        let keys = ids.iter().map(|id| HashMap::from([("user_id".to_owned(), s(id))])).collect::<Vec<_>>();
        let mut request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .projection_expression("user_id, devices, push_enabled, muted_categories, time_zone, locale, quiet_hours")
            .build()
            .map_err(|e| DynamoError::other("BatchGetItem", &self.table, e))?;
        let mut items = Vec::with_capacity(ids.len());
        for attempt in 0..MAX_LOOKUP_ATTEMPTS {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request.clone())
                .send()
                .await
                .map_err(|e| DynamoError::new("BatchGetItem", &self.table, e))?;
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
}

/// Exponential backoff with jitter, for throttled DynamoDB calls.
pub fn backoff(attempt: u32) -> Duration {
    let ceiling = 50u64 << attempt.min(10);
    Duration::from_millis(rand::rng().random_range(ceiling / 2..=ceiling).min(5_000))
}

impl DeviceLookup for DynamoDevices {
    async fn lookup(&self, user_ids: &[String]) -> Result<HashMap<String, UserDevices>, DeviceError> {
        // Token items share the table; an id that names one is no user.
        let unique: Vec<String> =
            user_ids.iter().filter(|id| !is_token_item(id)).cloned().collect::<HashSet<_>>().into_iter().collect();
        let chunks: Vec<Vec<String>> = unique.chunks(MAX_KEYS_PER_CALL).map(<[String]>::to_vec).collect();
        let chunks: Vec<Vec<Item>> = stream::iter(chunks)
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
        match self.remove_token(user_id, token, None, 5, None).await? {
            Removal::Removed(platform) => {
                if let Some(platform) = platform {
                    ownership::forget(self, user_id, &TokenKey::new(platform, token)).await?;
                }
                Ok(true)
            }
            Removal::Absent | Removal::Contended => Ok(false),
        }
    }

    async fn prune_seen(
        &self,
        user_id: &str,
        platform: Platform,
        token: &str,
        index: usize,
    ) -> Result<bool, DeviceError> {
        // Where the lookup saw it, unless the list moved since: one write
        // instead of a read and a write (a dead token is 5 % of a big send).
        let removed = self.remove_at(user_id, index, token).send().await;
        match removed {
            Ok(_) => {
                ownership::forget(self, user_id, &TokenKey::new(platform, token)).await?;
                Ok(true)
            }
            Err(e) if condition_failed(&e) => self.prune(user_id, token).await,
            Err(e) => Err(DynamoError::new("UpdateItem", &self.table, e).into()),
        }
    }
}

/// What the item looked like when read, which the write is conditional on.
pub(super) enum Seen {
    NoItem,
    NoList,
    List(Vec<AttributeValue>),
}

/// A user's item as a write needs it: the list, and the fence for one token.
pub(super) struct UserRead {
    pub seen: Seen,
    pub fence: Option<u64>,
}

impl DynamoDevices {
    pub(super) async fn read_devices(&self, user_id: &str, fence: Option<&TokenKey>) -> Result<UserRead, DeviceError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("user_id", s(user_id))
            .projection_expression("user_id, devices, fences")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| DynamoError::new("GetItem", &self.table, e))?;
        let Some(mut item) = out.item else { return Ok(UserRead { seen: Seen::NoItem, fence: None }) };
        let fence = match (fence, item.get("fences")) {
            (Some(key), Some(AttributeValue::M(fences))) => match fences.get(&key.fence_name()) {
                None => None,
                Some(value) => Some(value.as_n().ok().and_then(|n| n.parse::<u64>().ok()).ok_or_else(|| {
                    DeviceError::BadTokenItem {
                        table: self.table.clone(),
                        platform: key.platform.as_str(),
                        reason: format!("the fence of {user_id} is not a version"),
                    }
                })?),
            },
            _ => None,
        };
        let seen = match item.remove("devices") {
            Some(AttributeValue::L(list)) => Seen::List(list),
            _ => Seen::NoList,
        };
        Ok(UserRead { seen, fence })
    }

    pub(super) fn contended(&self, user_id: &str) -> DeviceError {
        DeviceError::Contended { table: self.table.clone(), user_id: user_id.to_owned(), attempts: MAX_WRITE_ATTEMPTS }
    }
}

impl DeviceRegister for DynamoDevices {
    async fn register(
        &self,
        user_id: &str,
        registration: &Registration,
        max_devices: usize,
    ) -> Result<Registered, DeviceError> {
        ownership::register(self, user_id, registration, max_devices).await
    }
}

impl DeviceUnregister for DynamoDevices {
    async fn unregister(&self, user_id: &str, token: &str) -> Result<bool, DeviceError> {
        ownership::unregister(self, user_id, token).await
    }
}

impl DynamoDevices {
    /// Removes `token` by its index in the list, conditional on that index
    /// still holding it (and, when given, the `updated_at` it was stored
    /// at): concurrent writers shift the list, so a failed condition
    /// re-reads (after `pause(attempt)`, when given) and tries again.
    pub(super) async fn remove_token(
        &self,
        user_id: &str,
        token: &str,
        updated_at: Option<&str>,
        attempts: u32,
        pause: Option<fn(u32) -> Duration>,
    ) -> Result<Removal, DeviceError> {
        for attempt in 0..attempts {
            let Seen::List(list) = self.read_devices(user_id, None).await?.seen else { return Ok(Removal::Absent) };
            let Some(index) = list.iter().position(|d| {
                map_str(d, "token").is_some_and(|t| t == token)
                    && updated_at.is_none_or(|at| map_str(d, "updated_at").is_some_and(|u| u == at))
            }) else {
                return Ok(Removal::Absent);
            };
            let platform = map_str(&list[index], "platform").and_then(|p| Platform::parse(p));
            let mut request = self.remove_at(user_id, index, token);
            if let Some(at) = updated_at {
                request = request
                    .condition_expression(format!("devices[{index}].#t = :token AND devices[{index}].#u = :at"))
                    .expression_attribute_names("#u", "updated_at")
                    .expression_attribute_values(":at", s(at));
            }
            match request.send().await {
                Ok(_) => return Ok(Removal::Removed(platform)),
                Err(e) if condition_failed(&e) => {
                    if let Some(pause) = pause {
                        tokio::time::sleep(pause(attempt)).await;
                    }
                }
                Err(e) => return Err(DynamoError::new("UpdateItem", &self.table, e).into()),
            }
        }
        Ok(Removal::Contended)
    }
}
