//! What kind of push a file sends (`kind` in the header), and the types its
//! fields take; `rules` checks them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The kind of push; `alert` when the header does not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A visible notification: title, body, sound, badge, rich fields.
    #[default]
    Alert,
    /// Wakes the app with nothing shown: APNs `content-available`, FCM data-only.
    Background,
    /// Key-value data for the app: FCM data-only, APNs a background push.
    Data,
    /// An update to (or the start or end of) an iOS Live Activity.
    LiveActivity,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Alert => "alert",
            Kind::Background => "background",
            Kind::Data => "data",
            Kind::LiveActivity => "live_activity",
        }
    }

    /// `apns-push-type` for this kind: a data push reaches iOS as a
    /// background push.
    pub fn apns_push_type(self) -> &'static str {
        match self {
            Kind::Alert => "alert",
            Kind::Background | Kind::Data => "background",
            Kind::LiveActivity => "liveactivity",
        }
    }

    pub fn is_default(&self) -> bool {
        *self == Kind::Alert
    }
}

/// `aps.interruption-level` (iOS 15+).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InterruptionLevel {
    Passive,
    Active,
    TimeSensitive,
    Critical,
}

impl InterruptionLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            InterruptionLevel::Passive => "passive",
            InterruptionLevel::Active => "active",
            InterruptionLevel::TimeSensitive => "time-sensitive",
            InterruptionLevel::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LiveActivityEvent {
    /// Push-to-start (iOS 17.2): names the activity's attributes.
    Start,
    Update,
    End,
}

impl LiveActivityEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            LiveActivityEvent::Start => "start",
            LiveActivityEvent::Update => "update",
            LiveActivityEvent::End => "end",
        }
    }
}

/// `notification.live_activity`. The required fields are options so that a
/// missing one is named by the header check rather than by serde.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveActivity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<LiveActivityEvent>,
    /// Seconds since 1970 when the content was made: ActivityKit drops an
    /// update older than the one it shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<u64>,
    /// The activity's `ContentState`; its strings may hold `{{vars}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_state: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dismissal_date: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_date: Option<u64>,
    /// Push-to-start: the `ActivityAttributes` type's name, and its values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Map<String, Value>>,
}
