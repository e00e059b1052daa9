//! The message of a batch file, before per-user rendering and per-provider
//! overrides.

use std::collections::BTreeMap;

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
    /// Texts by language (BCP 47 tags): a user whose locale is `pt-BR` gets
    /// `pt-BR`'s, else `pt`'s, else the texts above.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub localized: BTreeMap<String, Localized>,
}

/// One language's texts: each replaces the default's when given; `data`
/// replaces the default's data as a whole.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Localized {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Map<String, Value>>,
}

impl Notification {
    /// The notification as a user of `tag` gets it: the file's texts, then
    /// those of each of the tag's languages in `localized` from the least
    /// specific (`pt`, then `pt-BR`), each text replacing the one before.
    pub fn in_language(&self, tag: &str) -> Notification {
        let mut n = Notification { localized: BTreeMap::new(), ..self.clone() };
        let by_canonical: BTreeMap<String, &Localized> =
            self.localized.iter().filter_map(|(t, l)| Some((crate::locale::canonical(t)?, l))).collect();
        for language in crate::locale::fallbacks(tag).iter().rev() {
            let Some(texts) = by_canonical.get(language) else { continue };
            if let Some(title) = &texts.title {
                n.title = Some(title.clone());
            }
            if let Some(body) = &texts.body {
                n.body = Some(body.clone());
            }
            if let Some(data) = &texts.data {
                n.data = data.clone();
            }
        }
        n
    }

    /// Checks the `localized` tags: each a BCP 47 tag, none twice once
    /// cased conventionally (`pt-br` and `pt-BR`).
    pub fn check_languages(&self) -> Result<(), String> {
        let mut seen = BTreeMap::new();
        for tag in self.localized.keys() {
            let Some(canonical) = crate::locale::canonical(tag) else {
                return Err(format!(
                    "`notification.localized.{tag}`: {tag:?} is not a BCP 47 language tag (like \"fr\" or \"pt-BR\")"
                ));
            };
            if let Some(other) = seen.insert(canonical.clone(), tag) {
                return Err(format!(
                    "`notification.localized` has {other:?} and {tag:?}, the same language ({canonical})"
                ));
            }
        }
        Ok(())
    }
}
