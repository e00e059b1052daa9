//! An entry's and a device's fields as the file gives them, read without
//! building a `serde_json::Value` of the whole entry.
//!
//! The send path reads every entry of a file, and building a `Value` (a map
//! with an owned key per field, for the entry and for each device) was a
//! measured share of its CPU per push (BENCHMARKS.md, "The send path").
//! Here the known keys are matched as they stream past; every value is still
//! read as a `Value`, so each syntax and number rule is serde_json's own, and
//! a repeated key keeps its last value, as a `Value` map does. The contract's
//! rules are applied afterwards, to fields from either source
//! (`model::entry_from_fields`, `device::device_from_fields`).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::platform::Platform;

/// A user entry: a bare id, an object's fields, or any other JSON value.
#[derive(Debug)]
pub(super) enum EntryItem {
    Id(String),
    Object(EntryFields),
    NotAnObject,
}

#[derive(Debug, Default)]
pub(super) struct EntryFields {
    pub user_id: Option<Value>,
    pub vars: Option<Value>,
    pub devices: Option<DevicesField>,
}

/// An entry's `devices`: null, a list of devices, or anything else.
#[derive(Debug)]
pub(super) enum DevicesField {
    Null,
    List(Vec<DeviceItem>),
    NotAList,
}

/// One of `devices`: an object's fields, or any other JSON value.
#[derive(Debug)]
pub(super) enum DeviceItem {
    Object(DeviceFields),
    NotAnObject,
}

#[derive(Debug, Default)]
pub(super) struct DeviceFields {
    pub platform: Option<PlatformField>,
    pub token: Option<Value>,
    pub app: Option<Value>,
    pub subscription: Option<Value>,
}

/// A device's `platform`: one this contract names (read without an owned
/// copy: every device has one), or what was there instead.
#[derive(Debug)]
pub(super) enum PlatformField {
    Known(Platform),
    Unknown(Value),
}

impl PlatformField {
    fn from_value(value: Value) -> Self {
        match value.as_str().and_then(Platform::parse) {
            Some(platform) => PlatformField::Known(platform),
            None => PlatformField::Unknown(value),
        }
    }
}

impl EntryItem {
    pub fn from_value(value: Value) -> Self {
        match value {
            Value::String(id) => EntryItem::Id(id),
            Value::Object(mut obj) => EntryItem::Object(EntryFields {
                user_id: obj.remove("user_id"),
                vars: obj.remove("vars"),
                devices: obj.remove("devices").map(DevicesField::from_value),
            }),
            _ => EntryItem::NotAnObject,
        }
    }
}

impl DevicesField {
    fn from_value(value: Value) -> Self {
        match value {
            Value::Null => DevicesField::Null,
            Value::Array(items) => DevicesField::List(items.into_iter().map(DeviceItem::from_value).collect()),
            _ => DevicesField::NotAList,
        }
    }
}

impl DeviceItem {
    pub fn from_value(value: Value) -> Self {
        match value {
            Value::Object(mut obj) => DeviceItem::Object(DeviceFields {
                platform: obj.remove("platform").map(PlatformField::from_value),
                token: obj.remove("token"),
                app: obj.remove("app"),
                subscription: obj.remove("subscription"),
            }),
            _ => DeviceItem::NotAnObject,
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum EntryKey {
    UserId,
    Vars,
    Devices,
    #[serde(other)]
    Other,
}

#[derive(serde::Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum DeviceKey {
    Platform,
    Token,
    App,
    Subscription,
    #[serde(other)]
    Other,
}

/// The scalars no visitor here is looking for: each is `$other`. (Without
/// them serde would call the value a type error, which the reader would
/// report as malformed JSON rather than as an entry that is not a user.)
macro_rules! scalars_are {
    ($other:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($other)
        }
    };
}

/// Reads the rest of a list or an object that is not what was looked for,
/// as `Value`s, so that its syntax is checked all the same.
fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<Value>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<String, Value>()?.is_some() {}
    Ok(())
}

impl<'de> Deserialize<'de> for PlatformField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PlatformVisitor)
    }
}

struct PlatformVisitor;

impl<'de> Visitor<'de> for PlatformVisitor {
    type Value = PlatformField;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a platform")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<PlatformField, E> {
        Ok(PlatformField::Unknown(Value::from(b)))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<PlatformField, E> {
        Ok(PlatformField::Unknown(Value::from(n)))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<PlatformField, E> {
        Ok(PlatformField::Unknown(Value::from(n)))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<PlatformField, E> {
        // As a `Value` reads it: a float that is not finite cannot be parsed.
        Ok(PlatformField::Unknown(Value::from(n)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<PlatformField, E> {
        Ok(PlatformField::Unknown(Value::Null))
    }
    fn visit_str<E: de::Error>(self, name: &str) -> Result<PlatformField, E> {
        Ok(match Platform::parse(name) {
            Some(platform) => PlatformField::Known(platform),
            None => PlatformField::Unknown(Value::from(name)),
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<PlatformField, A::Error> {
        Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(PlatformField::Unknown)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<PlatformField, A::Error> {
        Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(PlatformField::Unknown)
    }
}

impl<'de> Deserialize<'de> for EntryItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = EntryItem;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a user entry")
    }

    scalars_are!(EntryItem::NotAnObject);

    fn visit_unit<E: de::Error>(self) -> Result<EntryItem, E> {
        Ok(EntryItem::NotAnObject)
    }

    fn visit_str<E: de::Error>(self, id: &str) -> Result<EntryItem, E> {
        Ok(EntryItem::Id(id.to_owned()))
    }

    fn visit_string<E: de::Error>(self, id: String) -> Result<EntryItem, E> {
        Ok(EntryItem::Id(id))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<EntryItem, A::Error> {
        drain_seq(seq)?;
        Ok(EntryItem::NotAnObject)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EntryItem, A::Error> {
        let mut fields = EntryFields::default();
        while let Some(key) = map.next_key::<EntryKey>()? {
            match key {
                EntryKey::UserId => fields.user_id = Some(map.next_value()?),
                EntryKey::Vars => fields.vars = Some(map.next_value()?),
                EntryKey::Devices => fields.devices = Some(map.next_value()?),
                EntryKey::Other => {
                    map.next_value::<Value>()?;
                }
            }
        }
        Ok(EntryItem::Object(fields))
    }
}

impl<'de> Deserialize<'de> for DevicesField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DevicesVisitor)
    }
}

struct DevicesVisitor;

impl<'de> Visitor<'de> for DevicesVisitor {
    type Value = DevicesField;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of devices")
    }

    scalars_are!(DevicesField::NotAList);

    fn visit_unit<E: de::Error>(self) -> Result<DevicesField, E> {
        Ok(DevicesField::Null)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<DevicesField, E> {
        Ok(DevicesField::NotAList)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<DevicesField, A::Error> {
        let mut devices = Vec::with_capacity(seq.size_hint().unwrap_or(1));
        while let Some(device) = seq.next_element()? {
            devices.push(device);
        }
        Ok(DevicesField::List(devices))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<DevicesField, A::Error> {
        drain_map(map)?;
        Ok(DevicesField::NotAList)
    }
}

impl<'de> Deserialize<'de> for DeviceItem {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DeviceVisitor)
    }
}

struct DeviceVisitor;

impl<'de> Visitor<'de> for DeviceVisitor {
    type Value = DeviceItem;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a device")
    }

    scalars_are!(DeviceItem::NotAnObject);

    fn visit_unit<E: de::Error>(self) -> Result<DeviceItem, E> {
        Ok(DeviceItem::NotAnObject)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<DeviceItem, E> {
        Ok(DeviceItem::NotAnObject)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<DeviceItem, A::Error> {
        drain_seq(seq)?;
        Ok(DeviceItem::NotAnObject)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DeviceItem, A::Error> {
        let mut fields = DeviceFields::default();
        while let Some(key) = map.next_key::<DeviceKey>()? {
            match key {
                DeviceKey::Platform => fields.platform = Some(map.next_value()?),
                DeviceKey::Token => fields.token = Some(map.next_value()?),
                DeviceKey::App => fields.app = Some(map.next_value()?),
                DeviceKey::Subscription => fields.subscription = Some(map.next_value()?),
                DeviceKey::Other => {
                    map.next_value::<Value>()?;
                }
            }
        }
        Ok(DeviceItem::Object(fields))
    }
}

#[cfg(test)]
mod tests;
