//! The ownership protocol's steps on the devices table: token items
//! (`user_id = "token#<platform>#<token>"`, `owner` S, `version` N,
//! `releasing` SS) and users' fences (`fences`, M of `<platform>#<token>`
//! to N), each a single-item conditional write.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo::{DynamoDevices, Seen, backoff};
use super::item::{Unchanged, device_item, map_str, slot_of};
use super::model::{Evicted, Registered, Registration};
use super::ownership::{Added, Claim, ClaimStore, Removal, TokenKey};
use super::plan::{Slot, plan};
use super::ports::{DeviceError, MAX_WRITE_ATTEMPTS};
use crate::dynamo::{DynamoError, Item, condition_failed, n, s};

impl DynamoDevices {
    /// A conditional write whose lost condition means someone else's write
    /// made it unnecessary: only the call failing is an error.
    fn unless_superseded<T, E, R>(
        &self,
        operation: &'static str,
        result: Result<T, SdkError<E, R>>,
    ) -> Result<(), DeviceError>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        match result {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Ok(()),
            Err(e) => Err(DynamoError::new(operation, &self.table, e).into()),
        }
    }

    fn bad_item(&self, key: &TokenKey, reason: impl Into<String>) -> DeviceError {
        DeviceError::BadTokenItem { table: self.table.clone(), platform: key.platform.as_str(), reason: reason.into() }
    }

    fn parse_claim(&self, key: &TokenKey, item: &Item) -> Result<Claim, DeviceError> {
        let owner = item.get("owner").and_then(|v| v.as_s().ok()).ok_or_else(|| self.bad_item(key, "no owner"))?;
        let version = item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| self.bad_item(key, "no version"))?;
        let releasing: BTreeSet<String> = match item.get("releasing") {
            None => BTreeSet::new(),
            Some(AttributeValue::Ss(users)) => users.iter().cloned().collect(),
            Some(_) => return Err(self.bad_item(key, "releasing is not a string set")),
        };
        Ok(Claim { owner: owner.clone(), version, releasing })
    }
}

impl ClaimStore for DynamoDevices {
    async fn read_claim(&self, key: &TokenKey) -> Result<Option<Claim>, DeviceError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("user_id", s(key.item_id()))
            .projection_expression("#o, version, releasing")
            .expression_attribute_names("#o", "owner")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| DynamoError::new("GetItem", &self.table, e))?;
        out.item.map(|item| self.parse_claim(key, &item)).transpose()
    }

    async fn write_claim(&self, key: &TokenKey, seen: Option<u64>, next: &Claim) -> Result<bool, DeviceError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("user_id", s(key.item_id()))
            .expression_attribute_names("#o", "owner")
            .expression_attribute_values(":o", s(&next.owner))
            .expression_attribute_values(":v", n(next.version));
        request = if next.releasing.is_empty() {
            request.update_expression("SET #o = :o, version = :v REMOVE releasing")
        } else {
            request
                .update_expression("SET #o = :o, version = :v, releasing = :r")
                .expression_attribute_values(":r", AttributeValue::Ss(next.releasing.iter().cloned().collect()))
        };
        request = match seen {
            None => request.condition_expression("attribute_not_exists(user_id)"),
            Some(version) => {
                request.condition_expression("version = :seen").expression_attribute_values(":seen", n(version))
            }
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(DynamoError::new("UpdateItem", &self.table, e).into()),
        }
    }

    async fn settle_claim(&self, key: &TokenKey, version: u64) -> Result<(), DeviceError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("user_id", s(key.item_id()))
            .update_expression("REMOVE releasing")
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(version))
            .send()
            .await;
        // Lost: a later claim carried `releasing` over; it is theirs to settle.
        self.unless_superseded("UpdateItem", result)
    }

    async fn drop_claim(&self, key: &TokenKey, version: u64) -> Result<(), DeviceError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("user_id", s(key.item_id()))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(version))
            .send()
            .await;
        // Lost: claimed since, and the item is the new owner's.
        self.unless_superseded("DeleteItem", result)
    }

    async fn fence(&self, user_id: &str, key: &TokenKey, version: u64) -> Result<(), DeviceError> {
        // A path into a map that does not exist is an invalid update, so the
        // map is made first (a no-op when it is there).
        self.client
            .update_item()
            .table_name(&self.table)
            .key("user_id", s(user_id))
            .update_expression("SET fences = if_not_exists(fences, :empty)")
            .expression_attribute_values(":empty", AttributeValue::M(HashMap::new()))
            .send()
            .await
            .map_err(|e| DynamoError::new("UpdateItem", &self.table, e))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("user_id", s(user_id))
            .update_expression("SET fences.#k = :v")
            .condition_expression("attribute_not_exists(fences.#k) OR fences.#k < :v")
            .expression_attribute_names("#k", key.fence_name())
            .expression_attribute_values(":v", n(version))
            .send()
            .await;
        // Lost: a higher fence is there already, and fences never go down.
        self.unless_superseded("UpdateItem", result)
    }

    async fn remove_device(
        &self,
        user_id: &str,
        token: &str,
        updated_at: Option<&str>,
    ) -> Result<Removal, DeviceError> {
        self.remove_token(user_id, token, updated_at, MAX_WRITE_ATTEMPTS, Some(backoff)).await
    }

    async fn add_device(
        &self,
        user_id: &str,
        registration: &Registration,
        max_devices: usize,
        version: u64,
    ) -> Result<Added, DeviceError> {
        let key = TokenKey::of(&registration.device);
        // Read, plan, then write the whole list conditional on it being
        // exactly what was read (and on the fence being what was read): a
        // concurrent registration, prune or fence in between fails the
        // condition, and the loop starts over from the new state instead of
        // resurrecting or losing a device.
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            let read = self.read_devices(user_id, Some(&key)).await?;
            if read.fence.is_some_and(|fence| fence > version) {
                return Ok(Added::Fenced);
            }
            let current: &[AttributeValue] = match &read.seen {
                Seen::List(list) => list,
                Seen::NoItem | Seen::NoList => &[],
            };
            let slots: Vec<Slot> = current.iter().map(slot_of).collect();
            let plan = plan(&slots, &registration.device.token, max_devices);
            let mut next: Vec<AttributeValue> =
                current.iter().enumerate().filter(|(i, _)| !plan.removes(*i)).map(|(_, d)| d.clone()).collect();
            next.push(device_item(registration));

            let mut request = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("user_id", s(user_id))
                .expression_attribute_values(":next", AttributeValue::L(next));
            let list_condition = match &read.seen {
                Seen::NoItem => "attribute_not_exists(user_id)".to_owned(),
                Seen::NoList => "attribute_exists(user_id) AND attribute_not_exists(devices)".to_owned(),
                Seen::List(list) => {
                    let unchanged = Unchanged::of(list);
                    for (name, attribute) in unchanged.names {
                        request = request.expression_attribute_names(name, attribute);
                    }
                    for (placeholder, value) in unchanged.values {
                        request = request.expression_attribute_values(placeholder, value);
                    }
                    unchanged.expression
                }
            };
            request = match (&read.seen, read.fence) {
                (Seen::NoItem, _) => {
                    request.update_expression("SET devices = :next").condition_expression(list_condition)
                }
                // The fence this claim has passed is of no more use: a claim
                // after this one raises a new one before it removes anything.
                (_, Some(fence)) => request
                    .update_expression("SET devices = :next REMOVE fences.#fk")
                    .condition_expression(format!("{list_condition} AND fences.#fk = :fence"))
                    .expression_attribute_names("#fk", key.fence_name())
                    .expression_attribute_values(":fence", n(fence)),
                (_, None) => request
                    .update_expression("SET devices = :next")
                    .condition_expression(format!("{list_condition} AND attribute_not_exists(fences.#fk)"))
                    .expression_attribute_names("#fk", key.fence_name()),
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
                    return Ok(Added::Done(Registered { created: plan.replaced.is_empty(), evicted }));
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
