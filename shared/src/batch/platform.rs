//! The platforms a device can be on, and the shape of each one's tokens.

use serde::{Deserialize, Serialize};

use super::subscription::endpoint_problem;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Ios,
    Android,
    /// A browser, through its Web Push service (RFC 8030).
    Web,
}

impl Platform {
    pub const ALL: [Platform; 3] = [Platform::Ios, Platform::Android, Platform::Web];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Ios => "ios",
            Platform::Android => "android",
            Platform::Web => "web",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "ios" | "apns" => Some(Platform::Ios),
            "android" | "fcm" => Some(Platform::Android),
            "web" => Some(Platform::Web),
            _ => None,
        }
    }

    /// Whether `token` has this platform's shape. APNs tokens are hex (32 bytes
    /// today; Apple reserves the right to lengthen them); FCM registration
    /// tokens are long URL-safe strings; a Web Push token is the
    /// subscription's endpoint.
    pub fn token_is_well_formed(self, token: &str) -> bool {
        match self {
            Platform::Ios => {
                (64..=200).contains(&token.len())
                    && token.len().is_multiple_of(2)
                    && token.bytes().all(|b| b.is_ascii_hexdigit())
            }
            Platform::Android => {
                (20..=4096).contains(&token.len())
                    && token.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':'))
            }
            Platform::Web => endpoint_problem(token).is_none(),
        }
    }
}
