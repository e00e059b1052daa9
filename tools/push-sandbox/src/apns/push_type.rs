//! `apns-push-type` and the header rules that depend on it, from Apple's "Sending
//! notification requests to APNs" (the apns-push-type and apns-priority rows).

use crate::reasons::ApnsReason;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushType {
    Alert,
    Background,
    Voip,
    Complication,
    FileProvider,
    Mdm,
    Location,
    LiveActivity,
    PushToTalk,
    Widgets,
}

/// Apple: "If you omit this header, APNs sets the notification priority to 10."
pub const DEFAULT_PRIORITY: u8 = 10;

/// Apple: the liveactivity topic is "your app's bundle ID with
/// `.push-type.liveactivity` appended to the end".
pub const LIVE_ACTIVITY_TOPIC_SUFFIX: &[u8] = b".push-type.liveactivity";

impl PushType {
    pub const ALL: &'static [PushType] = &[
        Self::Alert,
        Self::Background,
        Self::Voip,
        Self::Complication,
        Self::FileProvider,
        Self::Mdm,
        Self::Location,
        Self::LiveActivity,
        Self::PushToTalk,
        Self::Widgets,
    ];

    /// The header value, exactly as Apple spells it (the match is case-sensitive).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Alert => "alert",
            Self::Background => "background",
            Self::Voip => "voip",
            Self::Complication => "complication",
            Self::FileProvider => "fileprovider",
            Self::Mdm => "mdm",
            Self::Location => "location",
            Self::LiveActivity => "liveactivity",
            Self::PushToTalk => "pushtotalk",
            Self::Widgets => "widgets",
        }
    }

    pub fn from_header(v: &[u8]) -> Result<Self, ApnsReason> {
        Self::ALL.iter().copied().find(|t| t.as_str().as_bytes() == v).ok_or(ApnsReason::InvalidPushType)
    }

    /// Rules that tie the topic and the priority to the push type.
    pub fn check_headers(self, topic: &[u8], priority: u8) -> Result<(), ApnsReason> {
        match self {
            // Apple, background: "Always use priority 5. Using priority 10 is an
            // error." Priority 10 is also what an absent header means, so a background
            // push must say 5. BadPriority: "The apns-priority value is invalid."
            Self::Background if priority != 5 => Err(ApnsReason::BadPriority),
            // Apple documents no reason for a liveactivity push to a plain bundle
            // topic; BadTopic ("The apns-topic value is invalid") is the documented
            // one that fits, and unlike DeviceTokenNotForTopic it does not tell the
            // sender to drop the token.
            Self::LiveActivity
                if !(topic.ends_with(LIVE_ACTIVITY_TOPIC_SUFFIX) && topic.len() > LIVE_ACTIVITY_TOPIC_SUFFIX.len()) =>
            {
                Err(ApnsReason::BadTopic)
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_type_parses_and_nothing_else() {
        for t in PushType::ALL {
            assert_eq!(PushType::from_header(t.as_str().as_bytes()), Ok(*t));
        }
        for bad in [&b"Alert"[..], b"banner", b"", b"live-activity"] {
            assert_eq!(PushType::from_header(bad), Err(ApnsReason::InvalidPushType), "{bad:?}");
        }
    }

    #[test]
    fn background_needs_priority_5() {
        assert_eq!(PushType::Background.check_headers(b"com.x", 5), Ok(()));
        for p in [10, 1] {
            assert_eq!(PushType::Background.check_headers(b"com.x", p), Err(ApnsReason::BadPriority), "{p}");
        }
        assert_eq!(PushType::Alert.check_headers(b"com.x", 10), Ok(()));
        assert_eq!(PushType::Alert.check_headers(b"com.x", 1), Ok(()));
    }

    #[test]
    fn live_activity_needs_its_topic() {
        let la = PushType::LiveActivity;
        assert_eq!(la.check_headers(b"com.x.push-type.liveactivity", 10), Ok(()));
        assert_eq!(la.check_headers(b"com.x.push-type.liveactivity", 5), Ok(()));
        assert_eq!(la.check_headers(b"com.x", 10), Err(ApnsReason::BadTopic));
        assert_eq!(la.check_headers(b".push-type.liveactivity", 10), Err(ApnsReason::BadTopic));
    }
}
