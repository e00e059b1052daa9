//! State shared by every connection of both listeners.

use serde::Serialize;

use crate::dead::DeadRule;
use crate::knobs::{KnobValues, Knobs};
use crate::message_ids::MessageIds;
use crate::provider_token::ProviderTokenVerifier;
use crate::stats::Stats;
use crate::token_endpoint::TokenEndpoint;
use crate::webpush::store::Subscriptions;

pub struct App {
    pub knobs: Knobs,
    pub stats: Stats,
    pub dead: DeadRule,
    pub apns: ProviderTokenVerifier,
    pub oauth: TokenEndpoint,
    pub fcm_project: String,
    pub fcm_ids: MessageIds,
    pub webpush: Subscriptions,
    pub fixed: FixedSettings,
    /// The app (APNs topic) each registered token was issued to, as APNs
    /// knows it: a request for that token with another topic is refused
    /// with DeviceTokenNotForTopic. Tokens not registered go to any topic.
    pub token_apps: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// Settings that cannot change while running; shown by `GET /config` next to the knobs.
#[derive(Debug, Clone, Serialize)]
pub struct FixedSettings {
    pub max_streams: u32,
    pub dead_prefix: String,
    pub dead_tokens_listed: usize,
    pub apns_key_id: String,
    pub apns_team_id: String,
    pub fcm_project: String,
}

/// The JSON of `GET /config`: the live knobs at the top level (the same names
/// `POST /config` takes) plus the fixed settings under "fixed".
#[derive(Debug, Serialize)]
pub struct ConfigView<'a> {
    #[serde(flatten)]
    pub knobs: KnobValues,
    pub fixed: &'a FixedSettings,
}

impl App {
    pub fn is_dead(&self, token: &str) -> bool {
        self.dead.is_dead(token, self.knobs.dead_fraction())
    }

    /// The topic a request for `token` must carry, when it was registered.
    pub fn app_of(&self, token: &str) -> Option<String> {
        self.token_apps.lock().unwrap_or_else(|p| p.into_inner()).get(token).cloned()
    }

    pub fn config_view(&self) -> ConfigView<'_> {
        ConfigView { knobs: self.knobs.values(), fixed: &self.fixed }
    }
}
