//! A delivery's line in `receipts.jsonl`: who, which device, when, and the
//! provider's own name for the push (`shared::push::Receipt`), so support
//! can answer "I never got it" with Apple's, Google's or a push service's
//! tools. Written only when `DELIVERY_RECEIPTS` is on.

use chrono::{SecondsFormat, TimeZone, Utc};
use serde::Serialize;
use shared::batch::{Device, Platform};
use shared::push::Receipt;

#[derive(Serialize)]
struct Line<'a> {
    user_id: &'a str,
    platform: Platform,
    #[serde(skip_serializing_if = "Option::is_none")]
    app: Option<&'a str>,
    /// The APNs or FCM token, or the Web Push endpoint.
    token: &'a str,
    /// When the provider accepted it, to the millisecond (RFC 3339, UTC).
    accepted_at: String,
    #[serde(flatten)]
    receipt: &'a Receipt,
}

/// One delivered device's line.
pub fn line(user_id: &str, device: &Device, receipt: &Receipt, accepted_at_ms: i64) -> String {
    let accepted_at = match Utc.timestamp_millis_opt(accepted_at_ms).single() {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
        None => format!("{accepted_at_ms} ms after the epoch"),
    };
    let line = Line {
        user_id,
        platform: device.platform,
        app: device.app.as_deref(),
        token: &device.token,
        accepted_at,
        receipt,
    };
    // Strings and an enum of strings: serde_json cannot fail.
    serde_json::to_string(&line).expect("a receipt line encodes as JSON")
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    #[test]
    fn a_line_names_the_user_the_device_and_what_the_provider_said() {
        let mut device = Device::new(Platform::Ios, "ab12");
        device.app = Some("com.example.ipad".into());
        let receipt = Receipt {
            apns_id: Some("123e4567-e89b-12d3-a456-426614174000".into()),
            apns_unique_id: Some("u-1".into()),
            ..Receipt::default()
        };
        let apns: Value = serde_json::from_str(&line("u1", &device, &receipt, 1_796_036_400_123)).unwrap();
        assert_eq!(
            apns,
            json!({
                "user_id": "u1", "platform": "ios", "app": "com.example.ipad", "token": "ab12",
                "accepted_at": "2026-11-30T11:00:00.123Z",
                "apns_id": "123e4567-e89b-12d3-a456-426614174000", "apns_unique_id": "u-1",
            })
        );
        let fcm = Receipt { fcm_name: Some("projects/p/messages/0:1".into()), ..Receipt::default() };
        let android: Value = serde_json::from_str(&line("u2", &Device::new(Platform::Android, "t"), &fcm, 0)).unwrap();
        assert_eq!(android["fcm_name"], "projects/p/messages/0:1");
        assert!(android.get("app").is_none() && android.get("apns_id").is_none());
    }
}
