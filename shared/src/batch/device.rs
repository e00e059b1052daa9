//! A device to push to: an APNs or FCM token, or a browser's Web Push
//! subscription, with the app it belongs to.

use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::fields::{DeviceItem, PlatformField};
use super::invalid::InvalidReason;
use super::platform::Platform;
use super::subscription::{SubscriptionJson, WebKeys, subscription_from_value};

/// One device to push to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Device {
    pub platform: Platform,
    /// The APNs or FCM token; for Web Push, the subscription's endpoint.
    pub token: String,
    /// The app the token was issued to (bundle id or package name); None
    /// sends it as the deployment's default app (see `crate::apps`).
    pub app: Option<String>,
    /// A Web Push subscription's keys (`platform: web` only).
    pub keys: Option<WebKeys>,
}

impl Device {
    pub fn new(platform: Platform, token: impl Into<String>) -> Self {
        Device { platform, token: token.into(), app: None, keys: None }
    }

    /// A browser's subscription: its endpoint and keys.
    pub fn web(endpoint: impl Into<String>, keys: WebKeys) -> Self {
        Device { platform: Platform::Web, token: endpoint.into(), app: None, keys: Some(keys) }
    }
}

/// Written as it is read: `{"platform", "token", "app"}`, or for a browser
/// `{"platform": "web", "subscription": {"endpoint", "keys"}}`, so a
/// `failed.jsonl` re-drives its web devices too.
impl Serialize for Device {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("platform", self.platform.as_str())?;
        match &self.keys {
            Some(keys) => map.serialize_entry("subscription", &SubscriptionJson { endpoint: &self.token, keys })?,
            None => map.serialize_entry("token", &self.token)?,
        }
        if let Some(app) = &self.app {
            map.serialize_entry("app", app)?;
        }
        map.end()
    }
}

/// Read with the batch reader's own rules, so a device read through serde
/// is one the reader would have accepted.
impl<'de> Deserialize<'de> for Device {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        device_from_fields(DeviceItem::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
fn device_from_value(value: Value) -> Result<Device, InvalidReason> {
    device_from_fields(DeviceItem::from_value(value))
}

/// The contract's rules for a device, whichever way its fields were read.
pub(super) fn device_from_fields(item: DeviceItem) -> Result<Device, InvalidReason> {
    let DeviceItem::Object(fields) = item else {
        return Err(InvalidReason::NotAUser);
    };
    let platform = match fields.platform {
        Some(PlatformField::Known(platform)) => platform,
        Some(PlatformField::Unknown(Value::String(name))) => return Err(InvalidReason::UnknownPlatform(name)),
        Some(PlatformField::Unknown(other)) => return Err(InvalidReason::UnknownPlatform(other.to_string())),
        None => return Err(InvalidReason::UnknownPlatform(String::new())),
    };
    let app = match fields.app {
        None | Some(Value::Null) => None,
        Some(Value::String(a)) if crate::apps::app_id_problem(&a).is_none() => Some(a),
        Some(_) => return Err(InvalidReason::BadApp),
    };
    if platform == Platform::Web {
        let subscription = fields.subscription.unwrap_or(Value::Null);
        let (endpoint, keys) =
            subscription_from_value(&subscription).map_err(|e| InvalidReason::MalformedSubscription(e.to_string()))?;
        return Ok(Device { app, ..Device::web(endpoint, keys) });
    }
    let token = match fields.token {
        Some(Value::String(t)) if platform.token_is_well_formed(&t) => t,
        _ => return Err(InvalidReason::MalformedToken(platform)),
    };
    Ok(Device { platform, token, app, keys: None })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::subscription::fixtures::{AUTH, P256DH};
    use super::*;

    #[test]
    fn web_devices_round_trip_through_their_json() {
        let sub = json!({"endpoint": "https://push.example/s/1", "keys": {"p256dh": P256DH, "auth": AUTH}});
        let device = device_from_value(json!({"platform": "web", "subscription": sub, "app": "site"})).unwrap();
        assert_eq!(device.token, "https://push.example/s/1");
        assert_eq!(device.keys.as_ref().unwrap().auth, AUTH);
        let written = serde_json::to_value(&device).unwrap();
        assert_eq!(written, json!({"platform": "web", "subscription": sub, "app": "site"}));
        assert_eq!(serde_json::from_value::<Device>(written).unwrap(), device);
        let ios = Device::new(Platform::Ios, "ab".repeat(32));
        assert_eq!(serde_json::to_value(&ios).unwrap(), json!({"platform": "ios", "token": "ab".repeat(32)}));
    }

    #[test]
    fn a_web_device_without_a_good_subscription_says_why() {
        let reason = device_from_value(json!({"platform": "web", "token": "https://push.example/s/1"})).unwrap_err();
        assert_eq!(reason.key(), "malformed_subscription");
        let bad = json!({"platform": "web", "subscription": {"endpoint": "http://push.example/1",
            "keys": {"p256dh": P256DH, "auth": AUTH}}});
        let reason = device_from_value(bad).unwrap_err();
        assert!(reason.to_string().contains("subscription.endpoint"), "{reason}");
        assert!(serde_json::from_value::<Device>(json!({"platform": "ios", "token": "zz"})).is_err());
    }
}
