//! What a request says: the registration body and the path's id and token,
//! validated with the same rules send-batch's reader applies to batch files
//! (`shared::batch::Platform::token_is_well_formed` for tokens,
//! `shared::batch::subscription_from_value` for a browser's subscription).

use lambda_http::Body;
use lambda_http::http::{HeaderMap, header};
use serde_json::{Map, Value};
use shared::batch::{Device, Platform, subscription_from_value};
use shared::devices::is_token_item;

use crate::problem::ApiError;

/// Bodies above this are refused unread: the largest valid one (a 4096-byte
/// FCM token, or a 2048-character endpoint and its keys, and a 256-byte app
/// id) is well under it.
pub const MAX_BODY_BYTES: usize = 8 * 1024;
/// Longest `app` accepted (a bundle id or package name).
pub const MAX_APP_CHARS: usize = 256;
/// Longest user id accepted, in bytes (DynamoDB allows 2048 for a key).
pub const MAX_USER_ID_BYTES: usize = 512;

/// A validated `PUT` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterBody {
    pub device: Device,
    pub app: Option<String>,
}

const IOS_RULE: &str = "an APNs device token is hexadecimal, 64 characters (up to 200, even)";
const ANDROID_RULE: &str = "an FCM registration token is 20 to 4096 characters of A-Z, a-z, 0-9, '_', ':' and '-'";
const WEB_RULE: &str = "a web device's token is its subscription's endpoint, an https URL, percent-encoded in the path";

/// Validates `{id}`.
pub fn user_id(id: &str) -> Result<&str, ApiError> {
    let reason = if id.trim().is_empty() {
        "must not be empty"
    } else if id.len() > MAX_USER_ID_BYTES {
        "is longer than 512 bytes"
    } else if id.chars().any(char::is_control) {
        "must not contain control characters"
    } else if is_token_item(id) {
        // The devices table keeps its token index under these ids.
        "must not start with `token#`, which is reserved"
    } else {
        return Ok(id);
    };
    Err(ApiError::InvalidField { field: "id", reason: reason.into() })
}

/// `token` as stored: APNs tokens in lowercase (Apple's are case-insensitive
/// hex; one spelling keeps re-registration idempotent).
pub fn stored_token(platform: Platform, token: &str) -> String {
    match platform {
        Platform::Ios => token.to_ascii_lowercase(),
        Platform::Android | Platform::Web => token.to_owned(),
    }
}

/// The spellings `{token}` of a DELETE may be stored under, most likely
/// first: as given, then lowercased when it has an APNs token's shape. A
/// web device's token is its endpoint, which a path carries percent-encoded
/// (`encodeURIComponent`); it is decoded here whether or not the gateway did.
pub fn path_token(token: &str) -> Result<Vec<String>, ApiError> {
    let decoded = percent_encoding::percent_decode_str(token).decode_utf8().ok();
    if let Some(endpoint) = decoded.filter(|d| Platform::Web.token_is_well_formed(d)) {
        return Ok(vec![endpoint.into_owned()]);
    }
    let ios = Platform::Ios.token_is_well_formed(token);
    if !ios && !Platform::Android.token_is_well_formed(token) {
        return Err(ApiError::InvalidField {
            field: "token",
            reason: format!("matches no platform's format ({IOS_RULE}; {ANDROID_RULE}; {WEB_RULE})"),
        });
    }
    let mut spellings = vec![token.to_owned()];
    let lower = token.to_ascii_lowercase();
    if ios && lower != token {
        spellings.push(lower);
    }
    Ok(spellings)
}

/// Parses and validates a registration body.
pub fn register_body(headers: &HeaderMap, body: &Body) -> Result<RegisterBody, ApiError> {
    let mut object = json_object(headers, body, "send {\"platform\", \"token\"}")?;
    let platform = platform(&mut object)?;
    let device = match platform {
        Platform::Web => subscription(&mut object)?,
        Platform::Ios | Platform::Android => Device::new(platform, token(&mut object, platform)?),
    };
    let app = app(&mut object)?;
    // Unknown fields are refused rather than ignored: a misspelt optional
    // field would otherwise be dropped without a word.
    if let Some(unknown) = object.keys().next() {
        return Err(ApiError::UnknownField(unknown.clone()));
    }
    Ok(RegisterBody { device: Device { app: app.clone(), ..device }, app })
}

/// The body as one JSON object, after the checks every body gets: JSON
/// (or no Content-Type), at most [`MAX_BODY_BYTES`], not empty (`hint` says
/// what to send instead).
pub fn json_object(headers: &HeaderMap, body: &Body, hint: &str) -> Result<Map<String, Value>, ApiError> {
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        let value = content_type.to_str().unwrap_or_default();
        let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if essence != "application/json" {
            return Err(ApiError::UnsupportedMediaType(value.to_owned()));
        }
    }
    let bytes: &[u8] = body.as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::InvalidJson(format!("the body is empty; {hint}")));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(ApiError::InvalidJson("the body must be a JSON object".into()));
    };
    Ok(object)
}

fn platform(object: &mut Map<String, Value>) -> Result<Platform, ApiError> {
    match object.remove("platform") {
        None | Some(Value::Null) => Err(ApiError::MissingField("platform")),
        Some(Value::String(p)) if p == "ios" => Ok(Platform::Ios),
        Some(Value::String(p)) if p == "android" => Ok(Platform::Android),
        Some(Value::String(p)) if p == "web" => Ok(Platform::Web),
        Some(other) => Err(ApiError::InvalidField {
            field: "platform",
            reason: format!("must be \"ios\", \"android\" or \"web\", not {other}"),
        }),
    }
}

/// A browser's `PushSubscription.toJSON()`, under `subscription`: its
/// endpoint becomes the device's token.
fn subscription(object: &mut Map<String, Value>) -> Result<Device, ApiError> {
    if object.contains_key("token") {
        return Err(ApiError::InvalidField {
            field: "token",
            reason: "a web device is registered with `subscription` (the browser's PushSubscription), not `token`"
                .into(),
        });
    }
    let subscription = match object.remove("subscription") {
        None | Some(Value::Null) => return Err(ApiError::MissingField("subscription")),
        Some(s) => s,
    };
    let (endpoint, keys) = subscription_from_value(&subscription)
        .map_err(|e| ApiError::InvalidField { field: e.field, reason: e.reason })?;
    Ok(Device::web(endpoint, keys))
}

fn token(object: &mut Map<String, Value>, platform: Platform) -> Result<String, ApiError> {
    let token = match object.remove("token") {
        None | Some(Value::Null) => return Err(ApiError::MissingField("token")),
        Some(Value::String(t)) => t,
        Some(_) => return Err(ApiError::InvalidField { field: "token", reason: "must be a string".into() }),
    };
    if !platform.token_is_well_formed(&token) {
        let rule = match platform {
            Platform::Ios => IOS_RULE,
            Platform::Android => ANDROID_RULE,
            Platform::Web => WEB_RULE,
        };
        return Err(ApiError::InvalidField {
            field: "token",
            reason: format!("not a {} token: {rule}", platform.as_str()),
        });
    }
    Ok(stored_token(platform, &token))
}

fn app(object: &mut Map<String, Value>) -> Result<Option<String>, ApiError> {
    let app = match object.remove("app") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(a)) => a,
        Some(_) => return Err(ApiError::InvalidField { field: "app", reason: "must be a string".into() }),
    };
    let reason = if app.trim().is_empty() {
        "must not be empty (leave it out instead)"
    } else if app.chars().count() > MAX_APP_CHARS {
        "is longer than 256 characters"
    } else if !app.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        // Bundle ids and package names: letters, digits, `.`, `_` and `-`.
        // Anything else is not an app id, and may be markup meant for a page.
        "must be a bundle id or package name (letters, digits, `.`, `_`, `-`)"
    } else {
        return Ok(Some(app));
    };
    Err(ApiError::InvalidField { field: "app", reason: reason.into() })
}

#[cfg(test)]
mod tests {
    use lambda_http::http::HeaderValue;
    use serde_json::json;

    use super::*;

    const IOS: &str = "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef";
    const FCM: &str = "dGVzdC1pbnN0YW5jZQ:APA91bH-some_registration_token";

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        h
    }

    fn parse(value: Value) -> Result<RegisterBody, ApiError> {
        register_body(&json_headers(), &Body::Text(value.to_string()))
    }

    fn field_error(value: Value) -> (&'static str, String) {
        match parse(value).unwrap_err() {
            ApiError::InvalidField { field, .. } | ApiError::MissingField(field) => (field, String::new()),
            ApiError::UnknownField(f) => ("<unknown>", f),
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn ios_tokens_are_stored_lowercase() {
        let b = parse(json!({"platform": "ios", "token": IOS, "app": "com.example.app"})).unwrap();
        let expected =
            Device { app: Some("com.example.app".into()), ..Device::new(Platform::Ios, IOS.to_ascii_lowercase()) };
        assert_eq!(b.device, expected);
        assert_eq!(b.app.as_deref(), Some("com.example.app"));
    }

    #[test]
    fn android_tokens_are_kept_as_sent() {
        let b = parse(json!({"platform": "android", "token": FCM, "app": null})).unwrap();
        assert_eq!(b.device.token, FCM);
        assert_eq!(b.app, None);
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(field_error(json!({"token": IOS})).0, "platform");
        assert_eq!(field_error(json!({"platform": "windows", "token": IOS})).0, "platform");
        assert_eq!(field_error(json!({"platform": "IOS", "token": IOS})).0, "platform");
        assert_eq!(field_error(json!({"platform": "ios"})).0, "token");
        assert_eq!(field_error(json!({"platform": "ios", "token": 42})).0, "token");
        assert_eq!(field_error(json!({"platform": "ios", "token": &IOS[..63]})).0, "token");
        assert_eq!(field_error(json!({"platform": "ios", "token": FCM})).0, "token");
        assert_eq!(field_error(json!({"platform": "android", "token": "short"})).0, "token");
        assert_eq!(field_error(json!({"platform": "android", "token": format!("{FCM}/x")})).0, "token");
        assert_eq!(field_error(json!({"platform": "android", "token": FCM, "app": 1})).0, "app");
        assert_eq!(field_error(json!({"platform": "android", "token": FCM, "app": " "})).0, "app");
        assert_eq!(field_error(json!({"platform": "android", "token": FCM, "app": "a".repeat(257)})).0, "app");
        assert_eq!(field_error(json!({"platform": "android", "token": FCM, "ap": "x"})).1, "ap");
    }

    #[test]
    fn bodies_that_are_not_one_json_object_are_refused() {
        let headers = json_headers();
        for body in [Body::Empty, Body::Text("  ".into()), Body::Text("[1]".into()), Body::Text("{".into())] {
            assert!(matches!(register_body(&headers, &body), Err(ApiError::InvalidJson(_))), "{body:?}");
        }
        let big = Body::Text(format!("{{\"platform\":\"android\",\"token\":\"{}\"}}", "a".repeat(MAX_BODY_BYTES)));
        assert_eq!(register_body(&headers, &big), Err(ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES }));
        let mut form = HeaderMap::new();
        form.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        assert!(matches!(register_body(&form, &Body::Text("{}".into())), Err(ApiError::UnsupportedMediaType(_))));
        // No Content-Type at all is accepted: some HTTP clients omit it.
        let body = json!({"platform": "android", "token": FCM}).to_string();
        assert!(register_body(&HeaderMap::new(), &Body::Binary(body.into_bytes())).is_ok());
    }

    #[test]
    fn path_tokens_try_the_stored_spelling() {
        assert_eq!(path_token(IOS).unwrap(), vec![IOS.to_owned(), IOS.to_ascii_lowercase()]);
        assert_eq!(path_token(FCM).unwrap(), vec![FCM.to_owned()]);
        assert!(path_token("not a token").is_err());
    }

    const P256DH: &str = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const ENDPOINT: &str = "https://fcm.googleapis.com/fcm/send/dQw4:APA91bH";

    fn web(endpoint: &str, p256dh: &str, auth: &str) -> Value {
        json!({"platform": "web", "subscription": {"endpoint": endpoint, "expirationTime": null,
            "keys": {"p256dh": p256dh, "auth": auth}}})
    }

    #[test]
    fn a_browser_subscription_is_registered_by_its_endpoint() {
        let b = parse(web(ENDPOINT, P256DH, AUTH)).unwrap();
        assert_eq!(b.device.platform, Platform::Web);
        assert_eq!(b.device.token, ENDPOINT, "the endpoint is the token DELETE and prune name");
        let keys = b.device.keys.unwrap();
        assert_eq!((keys.p256dh.as_str(), keys.auth.as_str()), (P256DH, AUTH));
        assert!(parse(web("http://127.0.0.1:9101/wp/abc", P256DH, AUTH)).is_ok(), "http on loopback: the local stack");
    }

    #[test]
    fn each_bad_part_of_a_subscription_is_named() {
        assert_eq!(field_error(web("http://push.example/x", P256DH, AUTH)).0, "subscription.endpoint");
        assert_eq!(field_error(web("not a url", P256DH, AUTH)).0, "subscription.endpoint");
        assert_eq!(field_error(web(ENDPOINT, &P256DH[..40], AUTH)).0, "subscription.keys.p256dh");
        assert_eq!(field_error(web(ENDPOINT, P256DH, "c2hvcnQ")).0, "subscription.keys.auth");
        assert_eq!(field_error(json!({"platform": "web"})).0, "subscription");
        assert_eq!(
            field_error(json!({"platform": "web", "subscription": {"endpoint": ENDPOINT}})).0,
            "subscription.keys"
        );
        let mut with_token = web(ENDPOINT, P256DH, AUTH);
        with_token["token"] = json!(ENDPOINT);
        assert_eq!(field_error(with_token).0, "token");
        let mut ios_with_subscription = web(ENDPOINT, P256DH, AUTH);
        ios_with_subscription["platform"] = json!("ios");
        ios_with_subscription["token"] = json!(IOS);
        assert_eq!(field_error(ios_with_subscription).1, "subscription");
        let message = parse(web("http://push.example/x", P256DH, AUTH)).unwrap_err().to_string();
        assert_eq!(message, "`subscription.endpoint` is invalid: must be an https URL (http only for a loopback host)");
    }

    #[test]
    fn an_endpoint_in_the_path_is_decoded() {
        let encoded = "https%3A%2F%2Ffcm.googleapis.com%2Ffcm%2Fsend%2FdQw4%3AAPA91bH";
        assert_eq!(path_token(encoded).unwrap(), vec![ENDPOINT.to_owned()]);
        assert_eq!(path_token(ENDPOINT).unwrap(), vec![ENDPOINT.to_owned()], "already decoded by the gateway");
        assert!(path_token("http%3A%2F%2Fpush.example%2Fx").is_err(), "no plain http off loopback");
    }

    #[test]
    fn user_ids_are_bounded() {
        assert_eq!(user_id("u-1"), Ok("u-1"));
        assert!(user_id("").is_err());
        assert!(user_id(&"u".repeat(513)).is_err());
        assert!(user_id("a\nb").is_err());
    }
}
