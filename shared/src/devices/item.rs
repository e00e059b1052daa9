//! A devices item's shape in DynamoDB: `user_id` (S), `devices` (L of M:
//! `platform`, `token`, `app`, `updated_at`, and for a browser `keys`, M of
//! `p256dh` and `auth`, its endpoint being the `token`), `push_enabled`
//! (BOOL, default true), `muted_categories` (SS). Reading it, writing one
//! device, and the condition that a list is still what was read.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use chrono_tz::Tz;

use super::model::{QuietHours, Registration, UserDevices};
use super::plan::Slot;
use crate::batch::{Device, Platform, WebKeys};
use crate::dynamo::Item;

/// The devices in an item; malformed ones (a web device without its keys
/// among them) are skipped.
fn device_list(item: &Item) -> Vec<Device> {
    let Some(AttributeValue::L(list)) = item.get("devices") else { return Vec::new() };
    list.iter()
        .filter_map(|d| {
            let m = d.as_m().ok()?;
            let platform = Platform::parse(m.get("platform")?.as_s().ok()?)?;
            let token = m.get("token")?.as_s().ok()?.clone();
            let app = m.get("app").and_then(|a| a.as_s().ok()).cloned();
            let keys = match platform {
                Platform::Web => Some(web_keys(m.get("keys")?)?),
                Platform::Ios | Platform::Android => None,
            };
            Some(Device { platform, token, app, keys })
        })
        .collect()
}

fn web_keys(keys: &AttributeValue) -> Option<WebKeys> {
    let m = keys.as_m().ok()?;
    let text = |k: &str| m.get(k).and_then(|v| v.as_s().ok()).cloned();
    Some(WebKeys { p256dh: text("p256dh")?, auth: text("auth")? })
}

pub fn parse_item(item: &Item) -> Option<(String, UserDevices)> {
    let user_id = item.get("user_id")?.as_s().ok()?.clone();
    let devices = device_list(item);
    let push_enabled = item.get("push_enabled").and_then(|v| v.as_bool().ok()).copied().unwrap_or(true);
    let muted_categories = match item.get("muted_categories") {
        Some(AttributeValue::Ss(s)) => s.iter().cloned().collect(),
        Some(AttributeValue::L(l)) => l.iter().filter_map(|v| v.as_s().ok().cloned()).collect(),
        _ => HashSet::new(),
    };
    // Written by the devices API, which validates them; anything else in the
    // table reads as not given, and the file's defaults apply.
    let time_zone = item.get("time_zone").and_then(|v| v.as_s().ok()).and_then(|z| z.parse::<Tz>().ok());
    let locale = item.get("locale").and_then(|v| v.as_s().ok()).cloned();
    let quiet_hours = item.get("quiet_hours").and_then(|v| v.as_m().ok()).and_then(|m| {
        let text = |k: &str| m.get(k).and_then(|v| v.as_s().ok());
        QuietHours::parse(text("start")?, text("end")?).ok()
    });
    Some((user_id, UserDevices { devices, push_enabled, muted_categories, time_zone, locale, quiet_hours }))
}

fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value).ok().map(|t| t.with_timezone(&Utc))
}

pub fn map_str<'a>(entry: &'a AttributeValue, key: &str) -> Option<&'a String> {
    entry.as_m().ok()?.get(key)?.as_s().ok()
}

pub fn slot_of(entry: &AttributeValue) -> Slot {
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
    if let Some(keys) = &registration.device.keys {
        let keys = HashMap::from([
            ("p256dh".to_owned(), AttributeValue::S(keys.p256dh.clone())),
            ("auth".to_owned(), AttributeValue::S(keys.auth.clone())),
        ]);
        map.insert("keys".to_owned(), AttributeValue::M(keys));
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
pub struct Unchanged {
    pub expression: String,
    pub names: Vec<(&'static str, &'static str)>,
    pub values: Vec<(String, AttributeValue)>,
}

impl Unchanged {
    pub fn of(list: &[AttributeValue]) -> Self {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::fixtures::*;

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
    fn a_web_subscription_is_stored_and_read_back_whole() {
        let keys = WebKeys { p256dh: "BPk".into(), auth: "QXV0aA".into() };
        let device = Device::web("https://push.example/s/1", keys);
        let registration = Registration { device: device.clone(), app: None, at: at(0) };
        let stored = device_item(&registration);
        let m = stored.as_m().unwrap();
        assert_eq!(m["token"].as_s().unwrap(), "https://push.example/s/1", "the endpoint is the token prune removes");
        assert_eq!(m["keys"].as_m().unwrap()["auth"].as_s().unwrap(), "QXV0aA");
        let mut without_keys = m.clone();
        without_keys.remove("keys");
        let item = HashMap::from([
            ("user_id".to_owned(), AttributeValue::S("u".into())),
            ("devices".to_owned(), AttributeValue::L(vec![stored, AttributeValue::M(without_keys)])),
        ]);
        assert_eq!(parse_item(&item).unwrap().1.devices, vec![device], "a web device without keys is skipped");
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
}
