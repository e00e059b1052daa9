//! Hostile input to the devices API (issue #8, item 5), beyond what
//! handler.rs covers (oversized bodies, malformed JSON, missing auth): markup
//! in every field, bodies that are not UTF-8, nesting deep enough to hit
//! serde_json's recursion limit, and duplicate keys. Each refusal is a 4xx
//! JSON problem (never HTML that could carry the markup back), and nothing is
//! stored.

use chrono::{DateTime, Utc};
use devices::handler::handle;
use devices::settings::Settings;
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use shared::devices::{DeviceLookup, MemoryDevices};

const IOS: &str = "ab0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd";
const FCM: &str = "fcm-instance:APA91bExampleRegistrationToken_0123456789";
const MARKUP: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";

/// An API Gateway HTTP API (payload 2.0) PUT for `user`, signed in as `user`.
fn put_raw(user: &str, body: &str, base64: bool) -> Request {
    let path = format!("/users/{user}/devices");
    let event = json!({
        "version": "2.0",
        "routeKey": "PUT /users/{id}/devices",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "api.example.com"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "stage": "$default", "requestId": "r",
            "routeKey": "PUT /users/{id}/devices", "timeEpoch": 0,
            "http": {"method": "PUT", "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "t"},
            "authorizer": {"jwt": {"claims": {"sub": user, "aud": "app"}, "scopes": null}}
        },
        "pathParameters": {"id": user},
        "body": body,
        "isBase64Encoded": base64
    });
    lambda_http::request::from_str(&event.to_string()).expect("an API Gateway v2 event")
}

struct Api {
    store: MemoryDevices,
    settings: Settings,
}

impl Api {
    fn new() -> Self {
        Self { store: MemoryDevices::default(), settings: Settings::new("unused", 5) }
    }

    /// Status and JSON body; every answer must be JSON, never HTML.
    async fn call(&self, request: Request) -> (u16, Value) {
        let now: DateTime<Utc> = DateTime::from_timestamp(1_795_320_000, 0).unwrap();
        let response: Response<Body> = handle(&self.store, &self.settings, request, now).await;
        let status = response.status().as_u16();
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let body = match response.body() {
            Body::Empty => Value::Null,
            Body::Text(t) => {
                assert!(content_type.starts_with("application/"), "{status} answered as {content_type:?}: {t}");
                serde_json::from_str(t).expect("JSON body")
            }
            other => panic!("unexpected body {other:?}"),
        };
        (status, body)
    }

    async fn stored(&self, user: &str) -> usize {
        self.store.lookup(&[user.to_owned()]).await.unwrap().get(user).map_or(0, |u| u.devices.len())
    }
}

#[tokio::test]
async fn markup_in_platform_and_token_is_refused_and_nothing_is_stored() {
    let api = Api::new();
    let cases = [
        (json!({"platform": MARKUP, "token": IOS}), "platform"),
        (json!({"platform": "ios", "token": MARKUP}), "token"),
        (json!({"platform": "android", "token": format!("{FCM}{MARKUP}")}), "token"),
        (json!({"platform": "android", "token": FCM, MARKUP: 1}), MARKUP),
        (json!({"platform": "android", "token": FCM, "app": format!("a\n{MARKUP}")}), "app"),
        (json!({"platform": "android", "token": FCM, "app": MARKUP}), "app"),
    ];
    for (body, field) in cases {
        let (status, err) = api.call(put_raw("u-1", &body.to_string(), false)).await;
        assert_eq!(status, 400, "{body} → {err}");
        assert_eq!(err["field"].as_str(), Some(field), "{body} → {err}");
    }
    assert_eq!(api.stored("u-1").await, 0);
}

#[tokio::test]
async fn markup_in_the_user_id_is_only_ever_echoed_as_json() {
    // `{id}` must equal the caller's JWT `sub`, which the identity provider
    // chose: any string without control characters is a valid id, so markup
    // is refused only through auth (another user's id) and never rendered.
    let api = Api::new();
    let body = json!({"platform": "ios", "token": IOS}).to_string();
    let (status, _) = api.call(put_raw(MARKUP, &body, false)).await;
    assert_eq!(status, 201);
    assert_eq!(api.stored(MARKUP).await, 1);
    let (status, err) = api.call(put_raw(&format!("u\u{7}{MARKUP}"), &body, false)).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("id")), "{err}");
}

#[tokio::test]
async fn bodies_that_are_not_utf8_are_refused() {
    use base64::Engine as _;
    let api = Api::new();
    let mut bytes = br#"{"platform": "android", "token": ""#.to_vec();
    bytes.extend_from_slice(&[0xFF, 0xFE, 0xC0]);
    bytes.extend_from_slice(br#""}"#);
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let (status, err) = api.call(put_raw("u-1", &encoded, true)).await;
    assert_eq!((status, err["error"].as_str()), (400, Some("invalid_json")), "{err}");
    assert_eq!(api.stored("u-1").await, 0);
}

#[tokio::test]
async fn deep_nesting_within_the_size_limit_is_refused() {
    let api = Api::new();
    for deep in [
        format!(r#"{{"platform":"ios","token":"{IOS}","app":{}{}}}"#, "[".repeat(3000), "]".repeat(3000)),
        format!("{}{}", "[".repeat(4000), "]".repeat(4000)),
    ] {
        let (status, err) = api.call(put_raw("u-1", &deep, false)).await;
        assert_eq!(status, 400, "{err}");
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()), "{err}");
    }
    assert_eq!(api.stored("u-1").await, 0);
}

#[tokio::test]
async fn duplicate_keys_take_the_last_value() {
    // serde_json keeps the last of duplicate keys: deterministic, and the
    // value that is validated is the value that is stored.
    let api = Api::new();
    let body = format!(r#"{{"platform":"ios","token":"{IOS}","platform":"android","token":"{FCM}"}}"#);
    let (status, _) = api.call(put_raw("u-1", &body, false)).await;
    assert_eq!(status, 201);
    let stored = api.store.lookup(&["u-1".to_owned()]).await.unwrap();
    let devices = &stored["u-1"].devices;
    assert_eq!(devices.len(), 1);
    assert_eq!((devices[0].platform.as_str(), devices[0].token.as_str()), ("android", FCM));
    // And a valid first value cannot smuggle an invalid last one.
    let body = format!(r#"{{"platform":"ios","token":"{IOS}","token":"{MARKUP}"}}"#);
    let (status, err) = api.call(put_raw("u-2", &body, false)).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("token")));
    assert_eq!(api.stored("u-2").await, 0);
}
