//! Why an entry of a batch file is skipped.

use super::platform::Platform;

/// Why an entry was skipped. The names are the keys of the report's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidReason {
    NotAUser,
    MissingUserId,
    UnknownPlatform(String),
    MalformedToken(Platform),
    /// A web device whose subscription breaks a rule (which one, and why).
    MalformedSubscription(String),
    BadVars,
    BadApp,
}

impl InvalidReason {
    pub fn key(&self) -> &'static str {
        match self {
            InvalidReason::NotAUser => "not_a_user_entry",
            InvalidReason::MissingUserId => "missing_user_id",
            InvalidReason::UnknownPlatform(_) => "unknown_platform",
            InvalidReason::MalformedToken(_) => "malformed_token",
            InvalidReason::MalformedSubscription(_) => "malformed_subscription",
            InvalidReason::BadVars => "bad_vars",
            InvalidReason::BadApp => "bad_app",
        }
    }
}

impl std::fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InvalidReason::NotAUser => f.write_str("entry is neither a user id string nor an object"),
            InvalidReason::MissingUserId => f.write_str("entry has no non-empty `user_id`"),
            InvalidReason::UnknownPlatform(p) => write!(f, "unknown platform {p:?}"),
            InvalidReason::MalformedToken(p) => write!(f, "malformed {} token", p.as_str()),
            InvalidReason::MalformedSubscription(why) => write!(f, "malformed web subscription: {why}"),
            InvalidReason::BadVars => f.write_str("`vars` must be an object"),
            InvalidReason::BadApp => f.write_str("a device's `app` must be a bundle id or package name"),
        }
    }
}
