//! Registering and unregistering devices: the devices API's ports.
//!
//! Writes keep the item shape `DeviceLookup` reads (`devices`: a list of maps
//! {platform, token, app, updated_at}) and touch nothing but `devices`, so a
//! user's `push_enabled` and `muted_categories` survive every registration.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};

use super::{DeviceError, DynamoDevices, MemoryDevices, UserDevices, backoff};
use crate::batch::Device;

/// Devices a user may have when the deployment does not say otherwise.
pub const DEFAULT_MAX_DEVICES: usize = 10;

/// Conditional writes lost to concurrent writers before giving up: each loss
/// means another registration or prune of the same user landed in between.
const MAX_WRITE_ATTEMPTS: u32 = 8;

/// A device as an app registers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub device: Device,
    pub app: Option<String>,
    pub at: DateTime<Utc>,
}

impl Registration {
    /// `updated_at` as stored: RFC 3339, UTC, milliseconds.
    pub fn updated_at(&self) -> String {
        self.at.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

/// A device removed to make room under the cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evicted {
    pub platform: String,
    pub token: String,
}

/// What a registration did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// False when the token was already registered and only refreshed.
    pub created: bool,
    /// Least recently updated devices removed to stay within the cap.
    pub evicted: Vec<Evicted>,
}

/// Adds a device to a user, or refreshes it; never more than `max_devices`.
pub trait DeviceRegister: Send + Sync {
    fn register(
        &self,
        user_id: &str,
        registration: &Registration,
        max_devices: usize,
    ) -> impl Future<Output = Result<Registered, DeviceError>> + Send;
}

/// Removes a device from a user; `Ok(false)` when it was not registered.
pub trait DeviceUnregister: Send + Sync {
    fn unregister(&self, user_id: &str, token: &str) -> impl Future<Output = Result<bool, DeviceError>> + Send;
}

/// One stored device, as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub token: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Which stored devices a registration removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Positions holding the registered token (normally at most one).
    pub replaced: Vec<usize>,
    /// Positions evicted for the cap, least recently updated first.
    pub evicted: Vec<usize>,
}

impl Plan {
    fn removes(&self, index: usize) -> bool {
        self.replaced.contains(&index) || self.evicted.contains(&index)
    }
}

/// Plans registering `token` into `current` under `max_devices` (at least 1).
///
/// Entries without a readable `updated_at` count as the oldest, and ties keep
/// list order (entries are appended, so earlier is older).
pub fn plan(current: &[Slot], token: &str, max_devices: usize) -> Plan {
    let replaced: Vec<usize> =
        current.iter().enumerate().filter(|(_, s)| s.token.as_deref() == Some(token)).map(|(i, _)| i).collect();
    let remaining = current.len() - replaced.len();
    let excess = (remaining + 1).saturating_sub(max_devices.max(1));
    let mut candidates: Vec<usize> = (0..current.len()).filter(|i| !replaced.contains(i)).collect();
    candidates.sort_by_key(|&i| (current[i].updated_at, i));
    candidates.truncate(excess);
    Plan { replaced, evicted: candidates }
}

fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value).ok().map(|t| t.with_timezone(&Utc))
}

fn map_str<'a>(entry: &'a AttributeValue, key: &str) -> Option<&'a String> {
    entry.as_m().ok()?.get(key)?.as_s().ok()
}

fn slot_of(entry: &AttributeValue) -> Slot {
    Slot {
        token: map_str(entry, "token").cloned(),
        updated_at: map_str(entry, "updated_at").and_then(|t| parse_time(t)),
    }
}

/// The stored map for a registration (the shape `DeviceLookup` reads).
pub fn device_item(registration: &Registration) -> AttributeValue {
    let mut map = HashMap::from([
        ("platform".to_owned(), AttributeValue::S(registration.device.platform.as_str().to_owned())),
        ("token".to_owned(), AttributeValue::S(registration.device.token.clone())),
        ("updated_at".to_owned(), AttributeValue::S(registration.updated_at())),
    ]);
    if let Some(app) = &registration.app {
        map.insert("app".to_owned(), AttributeValue::S(app.clone()));
    }
    AttributeValue::M(map)
}

/// DynamoDB's limit on an expression's length.
const MAX_EXPRESSION_CHARS: usize = 4096;

/// A condition that holds only while `devices` is still the list that was
/// read: the same length, and each position holding the same token and
/// `updated_at`. (`devices = :seen` would say it in one term, and DynamoDB
/// compares lists that way, but dynalite, the local stack's DynamoDB, does
/// not.) A refresh, eviction, registration, unregistration or prune by
/// anyone else changes the length or some position, so the write fails and
/// is planned again.
struct Unchanged {
    expression: String,
    names: Vec<(&'static str, &'static str)>,
    values: Vec<(String, AttributeValue)>,
}

impl Unchanged {
    fn of(list: &[AttributeValue]) -> Self {
        let with_times = Self::build(list, true);
        // Lists far beyond any cap would not fit with both terms per
        // position; the tokens alone still catch every change but a refresh.
        if with_times.expression.len() <= MAX_EXPRESSION_CHARS { with_times } else { Self::build(list, false) }
    }

    fn build(list: &[AttributeValue], times: bool) -> Self {
        let mut terms = vec!["size(devices) = :n".to_owned()];
        let mut values = vec![(":n".to_owned(), AttributeValue::N(list.len().to_string()))];
        let mut names = Vec::new();
        if !list.is_empty() {
            names.push(("#t", "token"));
            if times {
                names.push(("#u", "updated_at"));
            }
        }
        for (i, entry) in list.iter().enumerate() {
            let fields: &[(&str, &str)] =
                if times { &[("#t", "token"), ("#u", "updated_at")] } else { &[("#t", "token")] };
            for &(alias, key) in fields {
                match map_str(entry, key) {
                    Some(value) => {
                        let placeholder = format!(":{}{i}", &alias[1..]);
                        terms.push(format!("devices[{i}].{alias} = {placeholder}"));
                        values.push((placeholder, AttributeValue::S(value.clone())));
                    }
                    None => terms.push(format!("attribute_not_exists(devices[{i}].{alias})")),
                }
            }
        }
        Self { expression: terms.join(" AND "), names, values }
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
            .key("user_id", AttributeValue::S(user_id.to_owned()))
            .projection_expression("user_id, devices")
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.err("GetItem", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
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
                .key("user_id", AttributeValue::S(user_id.to_owned()))
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
                Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) => return Err(self.err("UpdateItem", aws_sdk_dynamodb::error::DisplayErrorContext(e))),
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
pub(super) enum Removal {
    Removed,
    Absent,
    /// The list kept changing under every attempt.
    Contended,
}

impl DynamoDevices {
    /// Removes `token` by its index in the list, conditional on that index
    /// still holding it: concurrent writers shift the list, so a failed
    /// condition re-reads (after `pause(attempt)`, when given) and tries again.
    pub(super) async fn remove_token(
        &self,
        user_id: &str,
        token: &str,
        attempts: u32,
        pause: Option<fn(u32) -> std::time::Duration>,
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
                .key("user_id", AttributeValue::S(user_id.to_owned()))
                .update_expression(format!("REMOVE devices[{index}]"))
                .condition_expression(format!("devices[{index}].#t = :token"))
                .expression_attribute_names("#t", "token")
                .expression_attribute_values(":token", AttributeValue::S(token.to_owned()))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(Removal::Removed),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                    if let Some(pause) = pause {
                        tokio::time::sleep(pause(attempt)).await;
                    }
                }
                Err(e) => return Err(self.err("UpdateItem", aws_sdk_dynamodb::error::DisplayErrorContext(e))),
            }
        }
        Ok(Removal::Contended)
    }
}

impl DeviceRegister for MemoryDevices {
    async fn register(
        &self,
        user_id: &str,
        registration: &Registration,
        max_devices: usize,
    ) -> Result<Registered, DeviceError> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let mut details = self.details.lock().unwrap_or_else(|p| p.into_inner());
        let user = users
            .entry(user_id.to_owned())
            .or_insert_with(|| UserDevices { push_enabled: true, ..UserDevices::default() });
        let slots: Vec<Slot> = user
            .devices
            .iter()
            .map(|d| Slot {
                token: Some(d.token.clone()),
                updated_at: details.get(&(user_id.to_owned(), d.token.clone())).map(|d| d.at),
            })
            .collect();
        let plan = plan(&slots, &registration.device.token, max_devices);
        let evicted = plan
            .evicted
            .iter()
            .map(|&i| Evicted {
                platform: user.devices[i].platform.as_str().to_owned(),
                token: user.devices[i].token.clone(),
            })
            .collect::<Vec<_>>();
        let mut index = 0;
        user.devices.retain(|_| {
            let keep = !plan.removes(index);
            index += 1;
            keep
        });
        user.devices.push(registration.device.clone());
        for gone in &evicted {
            details.remove(&(user_id.to_owned(), gone.token.clone()));
        }
        details.insert((user_id.to_owned(), registration.device.token.clone()), registration.clone());
        Ok(Registered { created: plan.replaced.is_empty(), evicted })
    }
}

impl DeviceUnregister for MemoryDevices {
    async fn unregister(&self, user_id: &str, token: &str) -> Result<bool, DeviceError> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let Some(user) = users.get_mut(user_id) else { return Ok(false) };
        let before = user.devices.len();
        user.devices.retain(|d| d.token != token);
        self.details.lock().unwrap_or_else(|p| p.into_inner()).remove(&(user_id.to_owned(), token.to_owned()));
        Ok(user.devices.len() < before)
    }
}

impl MemoryDevices {
    /// A registered device's app and time, for tests.
    pub fn registration(&self, user_id: &str, token: &str) -> Option<Registration> {
        self.details.lock().unwrap_or_else(|p| p.into_inner()).get(&(user_id.to_owned(), token.to_owned())).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Platform;
    use crate::devices::DeviceLookup;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn slot(token: &str, secs: Option<i64>) -> Slot {
        Slot { token: Some(token.into()), updated_at: secs.map(at) }
    }

    fn reg(token: &str, secs: i64) -> Registration {
        Registration {
            device: Device { platform: Platform::Android, token: token.into() },
            app: Some("com.example".into()),
            at: at(secs),
        }
    }

    #[test]
    fn plan_appends_under_the_cap() {
        let p = plan(&[slot("a", Some(1))], "b", 3);
        assert_eq!(p, Plan { replaced: vec![], evicted: vec![] });
    }

    #[test]
    fn plan_replaces_the_same_token_without_evicting() {
        let p = plan(&[slot("a", Some(1)), slot("b", Some(2))], "a", 2);
        assert_eq!(p, Plan { replaced: vec![0], evicted: vec![] });
    }

    #[test]
    fn plan_evicts_the_least_recently_updated_and_unreadable_first() {
        let current = [slot("a", Some(5)), slot("b", None), slot("c", Some(1)), slot("d", Some(1))];
        assert_eq!(plan(&current, "e", 4).evicted, vec![1]);
        assert_eq!(plan(&current, "e", 2).evicted, vec![1, 2, 3]);
        // A list already over a lowered cap shrinks to it.
        assert_eq!(plan(&current, "e", 1).evicted.len(), 4);
    }

    #[test]
    fn device_item_has_the_lookup_shape() {
        let item = device_item(&reg("tok", 0));
        let m = item.as_m().unwrap();
        assert_eq!(m["platform"].as_s().unwrap(), "android");
        assert_eq!(m["token"].as_s().unwrap(), "tok");
        assert_eq!(m["app"].as_s().unwrap(), "com.example");
        assert_eq!(m["updated_at"].as_s().unwrap(), "1970-01-01T00:00:00.000Z");
        assert_eq!(slot_of(&item), slot("tok", Some(0)));
    }

    #[test]
    fn the_write_condition_pins_every_position() {
        let mut untimed = HashMap::new();
        untimed.insert("token".to_owned(), AttributeValue::S("b".into()));
        let list = [device_item(&reg("a", 0)), AttributeValue::M(untimed)];
        let c = Unchanged::of(&list);
        assert_eq!(
            c.expression,
            "size(devices) = :n AND devices[0].#t = :t0 AND devices[0].#u = :u0 \
             AND devices[1].#t = :t1 AND attribute_not_exists(devices[1].#u)"
        );
        assert_eq!(c.names, [("#t", "token"), ("#u", "updated_at")]);
        let values: HashMap<_, _> = c.values.into_iter().collect();
        assert_eq!(values[":n"], AttributeValue::N("2".into()));
        assert_eq!(values[":t1"], AttributeValue::S("b".into()));
        assert_eq!(values[":u0"], AttributeValue::S("1970-01-01T00:00:00.000Z".into()));

        let empty = Unchanged::of(&[]);
        assert_eq!((empty.expression.as_str(), empty.names.len()), ("size(devices) = :n", 0));

        // A list far over any cap keeps to DynamoDB's expression limit.
        let long: Vec<AttributeValue> = (0..120).map(|i| device_item(&reg(&format!("t{i}"), i))).collect();
        let c = Unchanged::of(&long);
        assert!(c.expression.len() <= MAX_EXPRESSION_CHARS, "{}", c.expression.len());
        assert_eq!(c.names, [("#t", "token")]);
    }

    #[tokio::test]
    async fn memory_registers_refreshes_evicts_and_unregisters() {
        let mem = MemoryDevices::default();
        assert!(mem.register("u", &reg("a", 1), 2).await.unwrap().created);
        assert!(mem.register("u", &reg("b", 2), 2).await.unwrap().created);
        let again = mem.register("u", &reg("a", 3), 2).await.unwrap();
        assert_eq!(again, Registered { created: false, evicted: vec![] });
        let third = mem.register("u", &reg("c", 4), 2).await.unwrap();
        assert_eq!(third.evicted, vec![Evicted { platform: "android".into(), token: "b".into() }]);
        let user = &mem.lookup(&["u".into()]).await.unwrap()["u"];
        let tokens: Vec<&str> = user.devices.iter().map(|d| d.token.as_str()).collect();
        assert_eq!(tokens, ["a", "c"]);
        assert!(user.push_enabled);
        assert_eq!(mem.registration("u", "a").unwrap().at, at(3));
        assert!(mem.unregister("u", "a").await.unwrap());
        assert!(!mem.unregister("u", "a").await.unwrap());
        assert!(!mem.unregister("nobody", "a").await.unwrap());
    }
}
