//! The message of a batch file, before per-user rendering and per-provider
//! overrides.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::kind::{InterruptionLevel, LiveActivity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    High,
    Normal,
}

/// The message, before per-user rendering and per-provider overrides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub data: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collapse_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// Merged into the APNs payload; `topic` and `push_type` set headers.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub apns: Map<String, Value>,
    /// Merged into the FCM v1 `message`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub fcm: Map<String, Value>,
    /// Merged into the Web Push payload (the JSON the service worker reads).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub web: Map<String, Value>,
    /// Rich alerts: an image URL (APNs: `image` beside `aps` with
    /// mutable-content, for the app's service extension; FCM:
    /// `notification.image`; Web Push: `image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// APNs `mutable-content`: the app's service extension may change it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutable_content: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interruption_level: Option<InterruptionLevel>,
    /// APNs `relevance-score`, 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relevance_score: Option<f64>,
    /// APNs `thread-id`: groups notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// FCM `fcm_options.analytics_label`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics_label: Option<String>,
    /// `kind: live_activity` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_activity: Option<LiveActivity>,
}
