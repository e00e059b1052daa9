//! Why the Web Push endpoint refuses a message: HTTP status (RFC 8030, RFC 8292)
//! and the error body of Mozilla's autopush, the one push service that documents
//! its errors: `{"code", "errno", "error", "message"}`, plus the sandbox's own
//! `reason`, which is also the key in /stats.

use bytes::Bytes;
use http::StatusCode;
use serde::Serialize;

macro_rules! webpush_reasons {
    ($($name:ident => $status:ident, $errno:expr;)*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum WebPushReason { $($name),* }

        impl WebPushReason {
            pub const ALL: &'static [WebPushReason] = &[$(WebPushReason::$name),*];
            pub const COUNT: usize = Self::ALL.len();

            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$name => stringify!($name)),* }
            }

            pub const fn status(self) -> StatusCode {
                match self { $(Self::$name => StatusCode::$status),* }
            }

            /// autopush's errno for the same refusal, where it documents one.
            pub const fn errno(self) -> Option<u16> {
                match self { $(Self::$name => $errno),* }
            }

            pub const fn index(self) -> usize {
                self as usize
            }
        }
    };
}

webpush_reasons! {
    // No subscription with that id was ever issued (autopush: "Invalid URL endpoint").
    NotFound => NOT_FOUND, Some(102);
    // Expired through the control API. The services answer 410 for a subscription
    // that is gone (autopush: "Expired URL endpoint"), and senders prune on it.
    Gone => GONE, Some(103);
    MethodNotAllowed => METHOD_NOT_ALLOWED, None;
    // RFC 8030 §5.2: "A push service MUST return a 400 (Bad Request) status code in
    // response to requests that omit the TTL header field."
    MissingTtl => BAD_REQUEST, Some(111);
    InvalidTtl => BAD_REQUEST, Some(112);
    // RFC 8291 §4: a payload is encrypted with the "aes128gcm" content coding.
    UnsupportedEncoding => BAD_REQUEST, Some(110);
    // RFC 8030 §7.2: above the service's limit (4096 octets, RFC 8291 §4), 413.
    PayloadTooLarge => PAYLOAD_TOO_LARGE, Some(104);
    InvalidUrgency => BAD_REQUEST, None;
    InvalidTopic => BAD_REQUEST, None;
    // RFC 8292 §4.2: "A 401 (Unauthorized) status code might be used if the
    // authentication is absent; a 403 (Forbidden) status code might be used if
    // authentication is invalid." Absent, or not the vapid scheme's shape: 401.
    MissingVapid => UNAUTHORIZED, Some(109);
    MalformedVapid => UNAUTHORIZED, Some(109);
    VapidSignature => FORBIDDEN, Some(109);
    VapidAudience => FORBIDDEN, Some(109);
    VapidExpired => FORBIDDEN, Some(109);
    VapidExpiryTooFar => FORBIDDEN, Some(109);
    VapidSubject => FORBIDDEN, Some(109);
    // RFC 8292 §4.2: a restricted subscription only takes its application server key.
    VapidKeyMismatch => FORBIDDEN, Some(109);
    // A push service cannot read the body and would answer 201; the user agent
    // would then drop the message. The sandbox is both, and says so to the sender.
    Undecryptable => BAD_REQUEST, Some(110);
    InternalServerError => INTERNAL_SERVER_ERROR, None;
    ServiceUnavailable => SERVICE_UNAVAILABLE, None;
    TooManyRequests => TOO_MANY_REQUESTS, None;
}

impl WebPushReason {
    /// The error's `message` when the check has nothing more specific to say.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::NotFound => "No such subscription.",
            Self::Gone => "The subscription has expired or was unsubscribed.",
            Self::MethodNotAllowed => "A push resource only takes POST.",
            Self::MissingTtl => "The TTL header is required (RFC 8030 §5.2).",
            Self::InvalidTtl => "TTL must be a number of seconds (RFC 8030 §5.2).",
            Self::UnsupportedEncoding => "A body must be sent with Content-Encoding: aes128gcm (RFC 8291 §4).",
            Self::PayloadTooLarge => "The body is larger than 4096 bytes (RFC 8291 §4).",
            Self::InvalidUrgency => "Urgency must be very-low, low, normal or high (RFC 8030 §5.3).",
            Self::InvalidTopic => "Topic must be 1 to 32 characters of base64url (RFC 8030 §5.4).",
            Self::MissingVapid => "VAPID authentication is required (RFC 8292).",
            Self::MalformedVapid => "Authorization must be `vapid t=<JWT>, k=<key>` (RFC 8292 §3).",
            Self::VapidSignature => "The VAPID JWT is not an ES256 signature by k.",
            Self::VapidAudience => "The VAPID aud must be the push resource's origin.",
            Self::VapidExpired => "The VAPID JWT has expired.",
            Self::VapidExpiryTooFar => "The VAPID exp is more than 24 hours ahead.",
            Self::VapidSubject => "The VAPID sub must be a mailto: or https: URI.",
            Self::VapidKeyMismatch => "k is not this subscription's applicationServerKey.",
            Self::Undecryptable => "The body does not decrypt with the subscription's keys (RFC 8291).",
            Self::InternalServerError => "Internal error.",
            Self::ServiceUnavailable => "The service is unavailable; retry later.",
            Self::TooManyRequests => "Too many requests; retry after the Retry-After delay.",
        }
    }

    pub fn body(self, message: &str) -> Bytes {
        #[derive(Serialize)]
        struct Body<'a> {
            code: u16,
            #[serde(skip_serializing_if = "Option::is_none")]
            errno: Option<u16>,
            error: &'static str,
            message: &'a str,
            reason: &'static str,
        }
        let status = self.status();
        let body = Body {
            code: status.as_u16(),
            errno: self.errno(),
            error: status.canonical_reason().unwrap_or("Error"),
            message,
            reason: self.as_str(),
        };
        Bytes::from(serde_json::to_vec(&body).expect("the error body serialises: only strings and integers"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_autopushs_shape() {
        let v: serde_json::Value = serde_json::from_slice(&WebPushReason::MissingTtl.body("no TTL")).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"code": 400, "errno": 111, "error": "Bad Request", "message": "no TTL", "reason": "MissingTtl"})
        );
        let v: serde_json::Value = serde_json::from_slice(&WebPushReason::InvalidTopic.body("x")).expect("json");
        assert!(v.get("errno").is_none());
        assert_eq!(WebPushReason::Gone.status(), StatusCode::GONE);
        assert_eq!(WebPushReason::MissingVapid.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(WebPushReason::VapidAudience.status(), StatusCode::FORBIDDEN);
        for (i, r) in WebPushReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }
}
