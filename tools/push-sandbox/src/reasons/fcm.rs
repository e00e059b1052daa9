//! FCM HTTP v1 error kinds: HTTP status, google.rpc status and FcmError errorCode.

use bytes::Bytes;
use http::StatusCode;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FcmCode {
    InvalidArgument,
    Unregistered,
    QuotaExceeded,
    Unavailable,
    Internal,
    /// Bad or missing OAuth access token (google.rpc status only, no FcmError detail).
    Unauthenticated,
    /// The project in the URL is not the sandbox's project.
    PermissionDenied,
    /// Unknown path or method under /v1.
    NotFound,
}

impl FcmCode {
    pub const ALL: &'static [FcmCode] = &[
        Self::InvalidArgument,
        Self::Unregistered,
        Self::QuotaExceeded,
        Self::Unavailable,
        Self::Internal,
        Self::Unauthenticated,
        Self::PermissionDenied,
        Self::NotFound,
    ];
    pub const COUNT: usize = Self::ALL.len();

    pub const fn index(self) -> usize {
        self as usize
    }

    pub const fn status(self) -> StatusCode {
        match self {
            Self::InvalidArgument => StatusCode::BAD_REQUEST,
            Self::Unregistered | Self::NotFound => StatusCode::NOT_FOUND,
            Self::QuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied => StatusCode::FORBIDDEN,
        }
    }

    /// google.rpc.Code name.
    pub const fn rpc_status(self) -> &'static str {
        match self {
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::Unregistered | Self::NotFound => "NOT_FOUND",
            Self::QuotaExceeded => "RESOURCE_EXHAUSTED",
            Self::Unavailable => "UNAVAILABLE",
            Self::Internal => "INTERNAL",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::PermissionDenied => "PERMISSION_DENIED",
        }
    }

    /// The FcmError `errorCode` detail, when FCM sends one.
    pub const fn error_code(self) -> Option<&'static str> {
        match self {
            Self::InvalidArgument => Some("INVALID_ARGUMENT"),
            Self::Unregistered => Some("UNREGISTERED"),
            Self::QuotaExceeded => Some("QUOTA_EXCEEDED"),
            Self::Unavailable => Some("UNAVAILABLE"),
            Self::Internal => Some("INTERNAL"),
            Self::Unauthenticated | Self::PermissionDenied | Self::NotFound => None,
        }
    }

    /// Key in /stats: the errorCode, or the rpc status when there is none.
    pub const fn stats_key(self) -> &'static str {
        match self.error_code() {
            Some(c) => c,
            None => self.rpc_status(),
        }
    }

    pub const fn default_message(self) -> &'static str {
        match self {
            Self::InvalidArgument => "Request contains an invalid argument.",
            Self::Unregistered => "Requested entity was not found.",
            Self::QuotaExceeded => "Quota exceeded for quota metric 'Send requests'.",
            Self::Unavailable => "The service is currently unavailable.",
            Self::Internal => "Internal error encountered.",
            Self::Unauthenticated => {
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."
            }
            Self::PermissionDenied => {
                "Permission 'cloudmessaging.messages.create' denied on resource (or it may not exist)."
            }
            Self::NotFound => "Requested entity was not found.",
        }
    }

    /// `{"error":{"code":..,"message":..,"status":..,"details":[FcmError]}}`.
    pub fn body(self, message: &str) -> Bytes {
        #[derive(Serialize)]
        struct Detail {
            #[serde(rename = "@type")]
            kind: &'static str,
            #[serde(rename = "errorCode")]
            error_code: &'static str,
        }
        #[derive(Serialize)]
        struct Inner<'a> {
            code: u16,
            message: &'a str,
            status: &'static str,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            details: Vec<Detail>,
        }
        #[derive(Serialize)]
        struct Outer<'a> {
            error: Inner<'a>,
        }
        let details = self
            .error_code()
            .map(|error_code| Detail { kind: "type.googleapis.com/google.firebase.fcm.v1.FcmError", error_code })
            .into_iter()
            .collect();
        let body = Outer { error: Inner { code: self.status().as_u16(), message, status: self.rpc_status(), details } };
        Bytes::from(serde_json::to_vec(&body).expect("FCM error body serialises: only strings, integers and a Vec"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unregistered_body_is_googles() {
        let body = FcmCode::Unregistered.body(FcmCode::Unregistered.default_message());
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}})
        );
    }

    #[test]
    fn unauthenticated_has_no_details() {
        let v: serde_json::Value = serde_json::from_slice(&FcmCode::Unauthenticated.body("x")).expect("json");
        assert_eq!(v["error"]["status"], "UNAUTHENTICATED");
        assert_eq!(v["error"]["code"], 401);
        assert!(v["error"].get("details").is_none());
        assert_eq!(FcmCode::Unauthenticated.stats_key(), "UNAUTHENTICATED");
        assert_eq!(FcmCode::QuotaExceeded.stats_key(), "QUOTA_EXCEEDED");
        for (i, c) in FcmCode::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
    }
}
