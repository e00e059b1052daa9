//! A user's devices and settings, as send-batch reads them and the devices
//! API writes them.

use std::collections::HashSet;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::batch::Device;

/// Devices a user may have when the deployment does not say otherwise.
pub const DEFAULT_MAX_DEVICES: usize = 10;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserDevices {
    pub devices: Vec<Device>,
    pub push_enabled: bool,
    pub muted_categories: HashSet<String>,
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
