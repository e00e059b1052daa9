//! What a batch file says (Contract 1): the header and the user entries.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::device::{Device, device_from_fields};
use super::fields::{DevicesField, EntryItem};
use super::invalid::InvalidReason;
use super::kind::Kind;
use super::notification::Notification;

/// Everything in a batch file but its users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub campaign: String,
    /// What kind of push: `alert` (the default), `background`, `data`, `live_activity`.
    #[serde(default, skip_serializing_if = "Kind::is_default")]
    pub kind: Kind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub notification: Notification,
    /// When to start, RFC 3339: the job waits, visible as `scheduled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_at: Option<String>,
    /// Users per second across the job's links and shards (default: no cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_second: Option<f64>,
    /// Send a few users first, check the failure rate, then go on or stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
    /// Entries the file must hold: catches a file cut cleanly at a line end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_users: Option<u64>,
    /// What to do with users inside their quiet hours (default: defer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietMode>,
    /// `HH:MM`: each user gets the push at this time in their own zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliver_at_local: Option<String>,
    /// IANA zone for users who gave none (default: UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_time_zone: Option<String>,
    /// Pushes of this file's category a user may get in their local day,
    /// overriding the deployment's cap for the category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_cap_per_day: Option<u32>,
}

/// A user inside their quiet hours: pushed when they end, or not at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuietMode {
    #[default]
    Defer,
    Skip,
}

/// `canary`: the first users, then a check of the failure and prune rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Above this share of failed (or of pruned) devices, the job stops.
    pub max_failure_rate: f64,
    #[serde(default)]
    pub then: CanaryThen,
}

/// What a job does after a canary that passed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CanaryThen {
    #[default]
    Continue,
    /// Pause for a person to look and resume.
    Pause,
}

impl Canary {
    /// How many users the canary sends, given the file's entry count.
    pub fn users_of(&self, total_entries: u64) -> u64 {
        match (self.users, self.percent) {
            (Some(n), _) => n,
            (None, Some(p)) => ((total_entries as f64 * p / 100.0).ceil() as u64).max(1),
            (None, None) => 0,
        }
    }

    fn validate(&self) -> Result<(), String> {
        match (self.users, self.percent) {
            (Some(_), Some(_)) => return Err("`canary` takes `users` or `percent`, not both".into()),
            (None, None) => return Err("`canary` needs `users` or `percent`".into()),
            (Some(0), None) => return Err("`canary.users` must be at least 1".into()),
            (None, Some(p)) if !(p > 0.0 && p <= 100.0) => {
                return Err(format!("`canary.percent` must be above 0 and at most 100, got {p}"));
            }
            _ => {}
        }
        if !(0.0..=1.0).contains(&self.max_failure_rate) {
            return Err(format!(
                "`canary.max_failure_rate` is a fraction between 0 and 1, got {}",
                self.max_failure_rate
            ));
        }
        Ok(())
    }
}

impl Header {
    /// A header with only what every file must have; the rest unset.
    pub fn new(campaign: impl Into<String>, notification: Notification) -> Self {
        Header {
            campaign: campaign.into(),
            kind: Kind::Alert,
            variant: None,
            category: None,
            notification,
            send_at: None,
            rate_per_second: None,
            canary: None,
            expected_users: None,
            quiet_hours: None,
            deliver_at_local: None,
            default_time_zone: None,
            category_cap_per_day: None,
        }
    }

    /// Checks what serde cannot: the fields the contract requires to be useful.
    pub fn validate(&self) -> Result<(), String> {
        if self.campaign.trim().is_empty() {
            return Err("`campaign` must not be empty".into());
        }
        super::rules::validate(self.kind, &self.notification)?;
        self.notification.check_languages()?;
        // Every language's notification follows the kind's rules too.
        for tag in self.notification.localized.keys() {
            super::rules::validate(self.kind, &self.notification.in_language(tag))
                .map_err(|e| format!("in `notification.localized.{tag}`: {e}"))?;
        }
        self.send_at_ms()?;
        if let Some(rate) = self.rate_per_second
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(format!("`rate_per_second` must be a number above 0, got {rate}"));
        }
        if let Some(canary) = &self.canary {
            canary.validate()?;
        }
        self.local_time()?;
        self.time_zone()?;
        if self.category_cap_per_day == Some(0) {
            return Err("`category_cap_per_day` must be at least 1 (a cap of 0 would send nothing)".into());
        }
        if self.category_cap_per_day.is_some() && self.category.is_none() {
            return Err("`category_cap_per_day` needs a `category` to cap".into());
        }
        Ok(())
    }

    /// `deliver_at_local` as a time of day.
    pub fn local_time(&self) -> Result<Option<chrono::NaiveTime>, String> {
        let Some(text) = &self.deliver_at_local else { return Ok(None) };
        if self.send_at.is_some() {
            return Err(
                "`deliver_at_local` and `send_at` cannot be used together: each user's own time is the start".into()
            );
        }
        chrono::NaiveTime::parse_from_str(text, "%H:%M")
            .map(Some)
            .map_err(|_| format!("`deliver_at_local` must be HH:MM (24-hour), got {text:?}"))
    }

    /// `default_time_zone`, or UTC.
    pub fn time_zone(&self) -> Result<chrono_tz::Tz, String> {
        match &self.default_time_zone {
            None => Ok(chrono_tz::UTC),
            Some(name) => name
                .parse::<chrono_tz::Tz>()
                .map_err(|_| format!("`default_time_zone` {name:?} is not an IANA time zone (e.g. Europe/Paris)")),
        }
    }

    /// `send_at` as epoch milliseconds.
    pub fn send_at_ms(&self) -> Result<Option<i64>, String> {
        let Some(text) = &self.send_at else { return Ok(None) };
        let at = chrono::DateTime::parse_from_rfc3339(text).map_err(|e| {
            format!("`send_at` must be an RFC 3339 time such as 2026-12-01T09:00:00Z, got {text:?} ({e})")
        })?;
        Ok(Some(at.timestamp_millis()))
    }
}

/// A valid user entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserEntry {
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub vars: Map<String, Value>,
    /// Inline devices: when present, no lookup is made for this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<Device>>,
}

/// Turns one syntactically valid JSON value into a user entry or a reason.
pub fn entry_from_value(value: Value) -> Result<UserEntry, InvalidReason> {
    entry_from_fields(EntryItem::from_value(value))
}

/// The contract's rules for a user entry, whichever way its fields were read.
pub(super) fn entry_from_fields(item: EntryItem) -> Result<UserEntry, InvalidReason> {
    let fields = match item {
        EntryItem::Id(id) if !id.trim().is_empty() => {
            return Ok(UserEntry { user_id: id, vars: Map::new(), devices: None });
        }
        EntryItem::Id(_) => return Err(InvalidReason::MissingUserId),
        EntryItem::Object(fields) => fields,
        EntryItem::NotAnObject => return Err(InvalidReason::NotAUser),
    };
    let user_id = match fields.user_id {
        Some(Value::String(id)) if !id.trim().is_empty() => id,
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(InvalidReason::MissingUserId),
    };
    let vars = match fields.vars {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(vars)) => vars,
        Some(_) => return Err(InvalidReason::BadVars),
    };
    let devices = match fields.devices {
        None | Some(DevicesField::Null) => None,
        Some(DevicesField::List(items)) => {
            Some(items.into_iter().map(device_from_fields).collect::<Result<Vec<_>, _>>()?)
        }
        Some(DevicesField::NotAList) => return Err(InvalidReason::NotAUser),
    };
    Ok(UserEntry { user_id, vars, devices })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Platform;
    use serde_json::json;

    const IOS: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn entries_of_every_shape() {
        let e = entry_from_value(json!("u-1")).unwrap();
        assert_eq!(e.user_id, "u-1");
        let e = entry_from_value(json!({"user_id": "u-2", "vars": {"name": "Ann"}})).unwrap();
        assert_eq!(e.vars["name"], "Ann");
        let e = entry_from_value(json!({"user_id": "u-3", "devices": [{"platform": "ios", "token": IOS}]})).unwrap();
        assert_eq!(e.devices.unwrap()[0].platform, Platform::Ios);
    }

    #[test]
    fn invalid_entries_say_why() {
        assert_eq!(entry_from_value(json!(42)), Err(InvalidReason::NotAUser));
        assert_eq!(entry_from_value(json!("")), Err(InvalidReason::MissingUserId));
        assert_eq!(entry_from_value(json!({"vars": {}})), Err(InvalidReason::MissingUserId));
        assert_eq!(
            entry_from_value(json!({"user_id": "u", "devices": [{"platform": "wp", "token": "x"}]})),
            Err(InvalidReason::UnknownPlatform("wp".into()))
        );
        assert_eq!(
            entry_from_value(json!({"user_id": "u", "devices": [{"platform": "ios", "token": "zz"}]})),
            Err(InvalidReason::MalformedToken(Platform::Ios))
        );
        assert_eq!(entry_from_value(json!({"user_id": "u", "vars": 3})), Err(InvalidReason::BadVars));
    }

    #[test]
    fn header_needs_title_or_body() {
        let h: Header = serde_json::from_value(json!({"campaign": "c", "notification": {}})).unwrap();
        assert!(h.validate().is_err());
        let h: Header = serde_json::from_value(json!({"campaign": "c", "notification": {"body": "b"}})).unwrap();
        h.validate().unwrap();
    }
}
