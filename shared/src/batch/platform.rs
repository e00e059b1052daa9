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
        let is = |name: &str| s.eq_ignore_ascii_case(name);
        if is("ios") || is("apns") {
            Some(Platform::Ios)
        } else if is("android") || is("fcm") {
            Some(Platform::Android)
        } else if is("web") {
            Some(Platform::Web)
        } else {
            None
        }
    }

    /// Whether `token` has this platform's shape. APNs tokens are hex (32 bytes
    /// today; Apple reserves the right to lengthen them); FCM registration
    /// tokens are long URL-safe strings; a Web Push token is the
    /// subscription's endpoint.
    pub fn token_is_well_formed(self, token: &str) -> bool {
        match self {
            // Every byte is checked without stopping at the first bad one
            // (`fold`, not `all`): branch-free, the loop vectorises, and every
            // token of a file is checked on the send path.
            Platform::Ios => {
                (64..=200).contains(&token.len())
                    && token.len().is_multiple_of(2)
                    && token.bytes().fold(true, |ok, b| ok & b.is_ascii_hexdigit())
            }
            Platform::Android => {
                (20..=4096).contains(&token.len())
                    && token
                        .bytes()
                        .fold(true, |ok, b| ok & (b.is_ascii_alphanumeric() | (b == b'_') | (b == b'-') | (b == b':')))
            }
            Platform::Web => endpoint_problem(token).is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Platform;

    #[test]
    fn platforms_are_named_in_any_case() {
        assert_eq!(Platform::parse("iOS"), Some(Platform::Ios));
        assert_eq!(Platform::parse("APNS"), Some(Platform::Ios));
        assert_eq!(Platform::parse("Fcm"), Some(Platform::Android));
        assert_eq!(Platform::parse("WEB"), Some(Platform::Web));
        assert_eq!(Platform::parse("webb"), None);
        assert_eq!(Platform::parse(""), None);
    }

    #[test]
    fn tokens_are_checked_to_their_last_byte() {
        let ios = "0123456789abcdefABCDEF".repeat(3)[..64].to_owned();
        assert!(Platform::Ios.token_is_well_formed(&ios));
        assert!(!Platform::Ios.token_is_well_formed(&ios[..63]), "odd length");
        assert!(!Platform::Ios.token_is_well_formed(&format!("{}g", &ios[..63])), "last byte not hex");
        assert!(!Platform::Ios.token_is_well_formed(&format!("g{}", &ios[1..])), "first byte not hex");
        let android = "dQw4w9WgXcQ:APA91b-Ab_cd".repeat(4);
        assert!(Platform::Android.token_is_well_formed(&android));
        assert!(!Platform::Android.token_is_well_formed(&format!("{android}/")));
        assert!(!Platform::Android.token_is_well_formed(&format!("{android} ")));
        assert!(!Platform::Android.token_is_well_formed("short:token"));
        assert!(!Platform::Android.token_is_well_formed(&format!("{android}é")));
    }
}
