//! The devices table in DynamoDB.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use futures::stream::{self, StreamExt, TryStreamExt};
use rand::RngExt;

use super::item::{Unchanged, device_item, map_str, parse_item, slot_of};
use super::model::{Evicted, Registered, Registration, UserDevices};
use super::plan::{Slot, plan};
use super::ports::{
    DeviceError, DeviceLookup, DevicePrune, DeviceRegister, DeviceUnregister, MAX_LOOKUP_ATTEMPTS, MAX_WRITE_ATTEMPTS,
};
use crate::dynamo::{DynamoError, Item, condition_failed, s};

/// BatchGetItem takes at most 100 keys.
pub const MAX_KEYS_PER_CALL: usize = 100;

pub struct DynamoDevices {
    client: aws_sdk_dynamodb::Client,
    table: String,
    parallel_calls: usize,
}

impl DynamoDevices {
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
        let unique: Vec<String> = user_ids.iter().cloned().collect::<HashSet<_>>().into_iter().collect();
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
        let removal = self.remove_token(user_id, token, 5, None).await?;
        Ok(matches!(removal, Removal::Removed))
    }
}

/// What the item looked like when read, which the write is conditional on.
enum Seen {
    NoItem,
    NoList,
    List(Vec<AttributeValue>),
}

impl DynamoDevices {
    async fn read_devices(&self, user_id: &str) -> Result<Seen, DeviceError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("user_id", s(user_id))
            .projection_expression("user_id, devices")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| DynamoError::new("GetItem", &self.table, e))?;
        Ok(match out.item {
            None => Seen::NoItem,
            Some(mut item) => match item.remove("devices") {
                Some(AttributeValue::L(list)) => Seen::List(list),
                _ => Seen::NoList,
            },
        })
    }

    fn contended(&self, user_id: &str) -> DeviceError {
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
        // Read, plan, then write the whole list conditional on it being
        // exactly what was read: a concurrent registration or a send-batch
        // prune in between fails the condition, and the loop starts over
        // from the new state instead of resurrecting or losing a device.
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            let seen = self.read_devices(user_id).await?;
            let current: &[AttributeValue] = match &seen {
                Seen::List(list) => list,
                Seen::NoItem | Seen::NoList => &[],
            };
            let slots: Vec<Slot> = current.iter().map(slot_of).collect();
            let plan = plan(&slots, &registration.device.token, max_devices);
            let mut next: Vec<AttributeValue> =
                current.iter().enumerate().filter(|(i, _)| !plan.removes(*i)).map(|(_, d)| d.clone()).collect();
            next.push(device_item(registration));

            let request = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("user_id", s(user_id))
                .update_expression("SET devices = :next")
                .expression_attribute_values(":next", AttributeValue::L(next));
            let request = match &seen {
                Seen::NoItem => request.condition_expression("attribute_not_exists(user_id)"),
                Seen::NoList => {
                    request.condition_expression("attribute_exists(user_id) AND attribute_not_exists(devices)")
                }
                Seen::List(list) => {
                    let unchanged = Unchanged::of(list);
                    let mut request = request.condition_expression(unchanged.expression);
                    for (name, attribute) in unchanged.names {
                        request = request.expression_attribute_names(name, attribute);
                    }
                    for (placeholder, value) in unchanged.values {
                        request = request.expression_attribute_values(placeholder, value);
                    }
                    request
                }
            };
            match request.send().await {
                Ok(_) => {
                    let evicted = plan
                        .evicted
                        .iter()
                        .map(|&i| Evicted {
                            platform: map_str(&current[i], "platform").cloned().unwrap_or_default(),
                            token: slots[i].token.clone().unwrap_or_default(),
                        })
                        .collect();
                    return Ok(Registered { created: plan.replaced.is_empty(), evicted });
                }
                Err(e) if condition_failed(&e) => {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) => return Err(DynamoError::new("UpdateItem", &self.table, e).into()),
            }
        }
        Err(self.contended(user_id))
    }
}

impl DeviceUnregister for DynamoDevices {
    async fn unregister(&self, user_id: &str, token: &str) -> Result<bool, DeviceError> {
        match self.remove_token(user_id, token, MAX_WRITE_ATTEMPTS, Some(backoff)).await? {
            Removal::Removed => Ok(true),
            Removal::Absent => Ok(false),
            Removal::Contended => Err(self.contended(user_id)),
        }
    }
}

/// What removing one token from a user's list came to.
enum Removal {
    Removed,
    Absent,
    /// The list kept changing under every attempt.
    Contended,
}

impl DynamoDevices {
    /// Removes `token` by its index in the list, conditional on that index
    /// still holding it: concurrent writers shift the list, so a failed
    /// condition re-reads (after `pause(attempt)`, when given) and tries again.
    async fn remove_token(
        &self,
        user_id: &str,
        token: &str,
        attempts: u32,
        pause: Option<fn(u32) -> Duration>,
    ) -> Result<Removal, DeviceError> {
        for attempt in 0..attempts {
            let Seen::List(list) = self.read_devices(user_id).await? else { return Ok(Removal::Absent) };
            let Some(index) = list.iter().position(|d| map_str(d, "token").is_some_and(|t| t == token)) else {
                return Ok(Removal::Absent);
            };
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("user_id", s(user_id))
                .update_expression(format!("REMOVE devices[{index}]"))
                .condition_expression(format!("devices[{index}].#t = :token"))
                .expression_attribute_names("#t", "token")
                .expression_attribute_values(":token", s(token))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(Removal::Removed),
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
