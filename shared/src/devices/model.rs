//! A user's devices and settings, as send-batch reads them and the devices
//! API writes them.

use std::collections::HashSet;

use chrono::{DateTime, NaiveTime, SecondsFormat, Utc};
use chrono_tz::Tz;

use crate::batch::Device;

/// Devices a user may have when the deployment does not say otherwise.
pub const DEFAULT_MAX_DEVICES: usize = 10;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserDevices {
    pub devices: Vec<Device>,
    pub push_enabled: bool,
    pub muted_categories: HashSet<String>,
    /// The user's IANA time zone, when they gave one (an unknown name reads
    /// as none: the file's default applies).
    pub time_zone: Option<Tz>,
    /// BCP 47, e.g. `pt-BR`: which `notification.localized` entry they get.
    pub locale: Option<String>,
    pub quiet_hours: Option<QuietHours>,
}

/// When a user wants no pushes, in their own time: `start` to `end`, which
/// wraps past midnight when `start` is later (22:00 to 07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl QuietHours {
    /// From `HH:MM` texts, as the item stores them.
    pub fn parse(start: &str, end: &str) -> Result<Self, String> {
        let time = |field: &str, text: &str| {
            NaiveTime::parse_from_str(text, "%H:%M")
                .map_err(|_| format!("`quiet_hours.{field}` must be HH:MM (24-hour), got {text:?}"))
        };
        let (start, end) = (time("start", start)?, time("end", end)?);
        if start == end {
            return Err("`quiet_hours` must not start and end at the same time".into());
        }
        Ok(Self { start, end })
    }

    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start < self.end { self.start <= t && t < self.end } else { t >= self.start || t < self.end }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn quiet_hours_wrap_past_midnight() {
        let night = QuietHours::parse("22:00", "07:00").unwrap();
        assert!(night.contains(at(23, 30)) && night.contains(at(0, 0)) && night.contains(at(6, 59)));
        assert!(!night.contains(at(7, 0)) && !night.contains(at(12, 0)) && !night.contains(at(21, 59)));
        let lunch = QuietHours::parse("12:00", "13:30").unwrap();
        assert!(lunch.contains(at(12, 0)) && !lunch.contains(at(13, 30)));
        assert!(QuietHours::parse("22:00", "22:00").is_err());
        assert!(QuietHours::parse("25:00", "07:00").unwrap_err().contains("quiet_hours.start"));
    }
}
