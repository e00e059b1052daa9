//! Apple's documented `reason` strings and their HTTP statuses.

use http::StatusCode;

macro_rules! apns_reasons {
    ($($name:ident => $status:ident),* $(,)?) => {
        /// An APNs response reason; the variant name is the wire string.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ApnsReason { $($name),* }

        impl ApnsReason {
            pub const ALL: &'static [ApnsReason] = &[$(ApnsReason::$name),*];
            pub const COUNT: usize = Self::ALL.len();

            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$name => stringify!($name)),* }
            }

            pub const fn status(self) -> StatusCode {
                match self { $(Self::$name => StatusCode::$status),* }
            }

            /// The response body, built at compile time so errors cost no formatting.
            pub const fn body(self) -> &'static str {
                match self { $(Self::$name => concat!("{\"reason\":\"", stringify!($name), "\"}")),* }
            }

            pub const fn index(self) -> usize {
                self as usize
            }
        }
    };
}

apns_reasons! {
    BadCollapseId => BAD_REQUEST,
    BadDeviceToken => BAD_REQUEST,
    BadExpirationDate => BAD_REQUEST,
    BadMessageId => BAD_REQUEST,
    BadPriority => BAD_REQUEST,
    BadTopic => BAD_REQUEST,
    DeviceTokenNotForTopic => BAD_REQUEST,
    InvalidPushType => BAD_REQUEST,
    MissingDeviceToken => BAD_REQUEST,
    MissingTopic => BAD_REQUEST,
    PayloadEmpty => BAD_REQUEST,
    ExpiredProviderToken => FORBIDDEN,
    InvalidProviderToken => FORBIDDEN,
    MissingProviderToken => FORBIDDEN,
    BadPath => NOT_FOUND,
    MethodNotAllowed => METHOD_NOT_ALLOWED,
    Unregistered => GONE,
    PayloadTooLarge => PAYLOAD_TOO_LARGE,
    TooManyRequests => TOO_MANY_REQUESTS,
    InternalServerError => INTERNAL_SERVER_ERROR,
    ServiceUnavailable => SERVICE_UNAVAILABLE,
    // Not an Apple reason: Apple speaks only HTTP/2, so an HTTP/1.x request can never
    // reach it; the sandbox says so instead of pretending the request worked.
    Http2Required => HTTP_VERSION_NOT_SUPPORTED,
    // Not an Apple reason either: Apple documents payload rules (the aps key types,
    // background and Live Activity payloads) but no reason for breaking them, as the
    // device, not APNs, drops such a notification. The sandbox refuses it so that a
    // sender's test sees the mistake instead of a 200 that would never display.
    InvalidPayload => BAD_REQUEST,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_and_status_follow_the_name() {
        assert_eq!(ApnsReason::BadDeviceToken.body(), r#"{"reason":"BadDeviceToken"}"#);
        assert_eq!(ApnsReason::Unregistered.status(), StatusCode::GONE);
        assert_eq!(ApnsReason::PayloadTooLarge.status().as_u16(), 413);
        for (i, r) in ApnsReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}
