//! The handler in-process, as Lambda calls it through lambda_http: every
//! route and every refusal, with the in-memory devices table.

mod common;

use common::Api;
use lambda_http::Request;
use serde_json::{Value, json};
use shared::batch::Platform;
use shared::devices::DeviceLookup;

const IOS: &str = "AB0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd";
const FCM: &str = "fcm-instance:APA91bExampleRegistrationToken_0123456789";

/// How API Gateway authenticated the request.
enum Auth<'a> {
    Jwt(&'a str),
    Iam,
    JwtWithoutSub,
    None,
}

/// An API Gateway HTTP API (payload 2.0) event, as the routes deliver it.
fn event(method: &str, user: &str, token: Option<&str>, auth: Auth<'_>, body: Option<&str>) -> Value {
    let (route, path, params) = match token {
        Some(t) => {
            ("/users/{id}/devices/{token}", format!("/users/{user}/devices/{t}"), json!({"id": user, "token": t}))
        }
        None => ("/users/{id}/devices", format!("/users/{user}/devices"), json!({"id": user})),
    };
    let mut e = json!({
        "version": "2.0",
        "routeKey": format!("{method} {route}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "api.example.com"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "stage": "$default", "requestId": "r",
            "routeKey": format!("{method} {route}"), "timeEpoch": 0,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "t"}
        },
        "pathParameters": params,
        "isBase64Encoded": false
    });
    let authorizer = match auth {
        Auth::Jwt(sub) => Some(json!({"jwt": {"claims": {"sub": sub, "aud": "app"}, "scopes": null}})),
        Auth::JwtWithoutSub => Some(json!({"jwt": {"claims": {"aud": "app"}, "scopes": null}})),
        Auth::Iam => Some(json!({"iam": {"userArn": "arn:aws:iam::123456789012:role/backend", "callerId": "AROA"}})),
        Auth::None => None,
    };
    if let Some(a) = authorizer {
        e["requestContext"]["authorizer"] = a;
    }
    if let Some(b) = body {
        e["body"] = json!(b);
    }
    e
}

fn request(event: &Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).expect("an API Gateway v2 event")
}

fn put(user: &str, auth: Auth<'_>, body: Value) -> Request {
    request(&event("PUT", user, None, auth, Some(&body.to_string())))
}

fn delete(user: &str, token: &str, auth: Auth<'_>) -> Request {
    request(&event("DELETE", user, Some(token), auth, None))
}

fn android(n: usize) -> String {
    format!("{FCM}{n:04}")
}

#[tokio::test]
async fn register_creates_then_refreshes_without_duplicates() {
    let mut api = Api::with_cap(10);
    let body = json!({"platform": "ios", "token": IOS, "app": "com.example.app"});
    let (status, first) = api.call(put("u-1", Auth::Jwt("u-1"), body.clone())).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["created"], true);
    assert_eq!(first["user_id"], "u-1");
    assert_eq!(first["device"]["token"], IOS.to_ascii_lowercase());
    assert_eq!(first["device"]["platform"], "ios");
    assert_eq!(first["device"]["app"], "com.example.app");
    assert_eq!(first["evicted"], json!([]));

    // The same token in another case, from a newer app build: refreshed.
    let body = json!({"platform": "ios", "token": IOS.to_ascii_lowercase(), "app": "com.example.app2"});
    let (status, again) = api.call(put("u-1", Auth::Jwt("u-1"), body)).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["created"], false);
    assert_ne!(again["device"]["updated_at"], first["device"]["updated_at"]);
    assert_eq!(api.tokens("u-1").await, vec![IOS.to_ascii_lowercase()]);
    let stored = api.store.registration("u-1", &IOS.to_ascii_lowercase()).unwrap();
    assert_eq!(stored.app.as_deref(), Some("com.example.app2"));
    assert_eq!(stored.at, api.now);
}

#[tokio::test]
async fn registering_beyond_the_cap_evicts_the_least_recently_updated() {
    let mut api = Api::with_cap(3);
    for n in 0..3 {
        let (status, _) =
            api.call(put("u-1", Auth::Jwt("u-1"), json!({"platform": "android", "token": android(n)}))).await;
        assert_eq!(status, 201);
    }
    // Refreshing the oldest makes the second one the least recently updated.
    api.call(put("u-1", Auth::Jwt("u-1"), json!({"platform": "android", "token": android(0)}))).await;
    let (status, body) = api.call(put("u-1", Auth::Jwt("u-1"), json!({"platform": "ios", "token": IOS}))).await;
    assert_eq!(status, 201);
    assert_eq!(body["evicted"], json!([{"platform": "android", "token": android(1)}]));
    assert_eq!(api.tokens("u-1").await, vec![android(2), android(0), IOS.to_ascii_lowercase()]);
}

#[tokio::test]
async fn delete_removes_and_is_idempotent() {
    let mut api = Api::with_cap(10);
    api.call(put("u-1", Auth::Jwt("u-1"), json!({"platform": "ios", "token": IOS}))).await;
    api.call(put("u-1", Auth::Jwt("u-1"), json!({"platform": "android", "token": android(1)}))).await;
    // The path may spell an APNs token in either case.
    let (status, body) = api.call(delete("u-1", IOS, Auth::Jwt("u-1"))).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(api.tokens("u-1").await, vec![android(1)]);
    assert_eq!(api.call(delete("u-1", IOS, Auth::Jwt("u-1"))).await.0, 204);
    assert_eq!(api.call(delete("nobody", &android(1), Auth::Jwt("nobody"))).await.0, 204);
    assert_eq!(api.tokens("u-1").await, vec![android(1)]);
}

#[tokio::test]
async fn backend_callers_may_act_for_any_user() {
    let mut api = Api::with_cap(10);
    let (status, _) = api.call(put("u-9", Auth::Iam, json!({"platform": "android", "token": android(9)}))).await;
    assert_eq!(status, 201);
    assert_eq!(api.call(delete("u-9", &android(9), Auth::Iam)).await.0, 204);
    assert!(api.tokens("u-9").await.is_empty());
}

#[tokio::test]
async fn unauthenticated_and_foreign_callers_are_refused_and_nothing_is_stored() {
    let mut api = Api::with_cap(10);
    let body = json!({"platform": "ios", "token": IOS});
    for auth in [Auth::None, Auth::JwtWithoutSub] {
        let (status, err) = api.call(put("u-1", auth, body.clone())).await;
        assert_eq!((status, err["error"].as_str()), (401, Some("unauthenticated")), "{err}");
    }
    let (status, err) = api.call(put("u-1", Auth::Jwt("u-2"), body.clone())).await;
    assert_eq!((status, err["error"].as_str()), (403, Some("forbidden")), "{err}");

    api.call(put("u-1", Auth::Jwt("u-1"), body)).await;
    let (status, _) = api.call(delete("u-1", IOS, Auth::Jwt("u-2"))).await;
    assert_eq!(status, 403);
    assert_eq!(api.call(delete("u-1", IOS, Auth::None)).await.0, 401);
    assert_eq!(api.tokens("u-1").await, vec![IOS.to_ascii_lowercase()]);
    assert!(api.tokens("u-2").await.is_empty());
}

#[tokio::test]
async fn invalid_bodies_name_the_field_and_store_nothing() {
    let mut api = Api::with_cap(10);
    let cases = [
        (json!({"token": IOS}), "missing_field", Some("platform")),
        (json!({"platform": "blackberry", "token": IOS}), "invalid_field", Some("platform")),
        (json!({"platform": "ios"}), "missing_field", Some("token")),
        (json!({"platform": "ios", "token": "abc"}), "invalid_field", Some("token")),
        (json!({"platform": "ios", "token": android(1)}), "invalid_field", Some("token")),
        (json!({"platform": "android", "token": "has spaces in it, twenty+"}), "invalid_field", Some("token")),
        (json!({"platform": "android", "token": android(1), "app": ["x"]}), "invalid_field", Some("app")),
        (json!({"platform": "android", "token": android(1), "badge": 1}), "unknown_field", Some("badge")),
        (json!(["ios", IOS]), "invalid_json", None),
    ];
    for (body, code, field) in cases {
        let (status, err) = api.call(put("u-1", Auth::Jwt("u-1"), body.clone())).await;
        assert_eq!(status, 400, "{body} → {err}");
        assert_eq!(err["error"], code, "{body} → {err}");
        assert_eq!(err["field"].as_str(), field, "{body} → {err}");
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (status, err) = api.call(request(&event("PUT", "u-1", None, Auth::Jwt("u-1"), Some("{\"platform\":")))).await;
    assert_eq!((status, err["error"].as_str()), (400, Some("invalid_json")));
    let (status, err) = api.call(request(&event("PUT", "u-1", None, Auth::Jwt("u-1"), None))).await;
    assert_eq!((status, err["error"].as_str()), (400, Some("invalid_json")));
    let (status, err) = api.call(delete("u-1", "not a token", Auth::Jwt("u-1"))).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("token")));
    assert!(api.tokens("u-1").await.is_empty());
}

#[tokio::test]
async fn oversized_and_non_json_bodies_are_refused() {
    let mut api = Api::with_cap(10);
    let huge = json!({"platform": "android", "token": "a".repeat(9000)}).to_string();
    let (status, err) = api.call(request(&event("PUT", "u-1", None, Auth::Jwt("u-1"), Some(&huge)))).await;
    assert_eq!((status, err["error"].as_str()), (413, Some("payload_too_large")));

    let mut e = event("PUT", "u-1", None, Auth::Jwt("u-1"), Some("platform=ios"));
    e["headers"]["content-type"] = json!("application/x-www-form-urlencoded");
    let (status, err) = api.call(request(&e)).await;
    assert_eq!((status, err["error"].as_str()), (415, Some("unsupported_media_type")));

    // API Gateway base64-encodes bodies it considers binary; they decode.
    use base64::Engine as _;
    let body = json!({"platform": "ios", "token": IOS}).to_string();
    let mut e = event("PUT", "u-1", None, Auth::Jwt("u-1"), None);
    e["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body));
    e["isBase64Encoded"] = json!(true);
    assert_eq!(api.call(request(&e)).await.0, 201);
    assert_eq!(api.tokens("u-1").await.len(), 1);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_refused() {
    let mut api = Api::with_cap(10);
    let (status, err) = api.call(request(&event("GET", "u-1", None, Auth::Jwt("u-1"), None))).await;
    assert_eq!((status, err["error"].as_str()), (405, Some("method_not_allowed")));
    let (status, _) = api.call(request(&event("PUT", "u-1", Some(IOS), Auth::Jwt("u-1"), None))).await;
    assert_eq!(status, 405);
    let mut e = event("PUT", "u-1", None, Auth::Jwt("u-1"), None);
    e.as_object_mut().unwrap().remove("pathParameters");
    let (status, err) = api.call(request(&e)).await;
    assert_eq!((status, err["error"].as_str()), (404, Some("not_found")));
    let (status, err) = api.call(put(&"u".repeat(600), Auth::Jwt(&"u".repeat(600)), json!({}))).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("id")));
}

#[tokio::test]
async fn registered_devices_are_what_send_batch_looks_up() {
    let mut api = Api::with_cap(10);
    api.call(put("u-1", Auth::Jwt("u-1"), json!({"platform": "ios", "token": IOS}))).await;
    api.call(put("u-1", Auth::Jwt("u-1"), json!({"platform": "android", "token": android(1)}))).await;
    let users = api.store.lookup(&["u-1".into()]).await.unwrap();
    let user = &users["u-1"];
    assert!(user.push_enabled);
    let platforms: Vec<Platform> = user.devices.iter().map(|d| d.platform).collect();
    assert_eq!(platforms, [Platform::Ios, Platform::Android]);
    assert!(user.devices.iter().all(|d| d.platform.token_is_well_formed(&d.token)));
}
