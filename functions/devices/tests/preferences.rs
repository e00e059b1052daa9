//! `PUT`/`GET /users/{id}/preferences` in-process: every field's rule and
//! refusal, replacement, authorization, and that preferences and devices
//! never touch each other.

mod common;

use common::{Api, Auth, FCM, request};
use devices::settings::Settings;
use serde_json::{Value, json};
use shared::devices::DeviceLookup;

fn api() -> Api {
    Api::new(Settings::new("unused", 10))
}

async fn put(api: &mut Api, user: &str, body: Value) -> (u16, Value) {
    api.call(request("PUT", user, "preferences", Auth::Jwt(user), Some(&body))).await
}

async fn get(api: &mut Api, user: &str) -> (u16, Value) {
    api.call(request("GET", user, "preferences", Auth::Jwt(user), None)).await
}

fn full() -> Value {
    json!({
        "push_enabled": false,
        "muted_categories": ["promo", "news"],
        "time_zone": "America/Sao_Paulo",
        "locale": "pt-br",
        "quiet_hours": {"start": "22:00", "end": "07:00"}
    })
}

#[tokio::test]
async fn put_stores_the_document_and_get_returns_it() {
    let mut api = api();
    let (status, stored) = put(&mut api, "u-1", full()).await;
    assert_eq!(status, 200, "{stored}");
    let expected = json!({
        "push_enabled": false,
        "muted_categories": ["news", "promo"],
        "time_zone": "America/Sao_Paulo",
        "locale": "pt-BR",
        "quiet_hours": {"start": "22:00", "end": "07:00"}
    });
    assert_eq!(stored, expected);
    assert_eq!(get(&mut api, "u-1").await, (200, expected));
    // What send-batch reads changed with them.
    let user = &api.store.lookup(&["u-1".into()]).await.unwrap()["u-1"];
    assert!(!user.push_enabled);
    assert!(user.muted_categories.contains("promo"));
}

#[tokio::test]
async fn a_put_replaces_every_field_it_leaves_out() {
    let mut api = api();
    put(&mut api, "u-1", full()).await;
    let (status, stored) = put(&mut api, "u-1", json!({"time_zone": "Europe/Lisbon"})).await;
    assert_eq!((status, stored.clone()), (200, json!({"time_zone": "Europe/Lisbon"})));
    assert_eq!(get(&mut api, "u-1").await.1, stored);
    assert!(api.store.lookup(&["u-1".into()]).await.unwrap()["u-1"].push_enabled, "unset is enabled");
    // Overnight and same-day quiet hours; an empty list and nulls are "not set".
    let body = json!({"quiet_hours": {"start": "13:00", "end": "14:30"}, "muted_categories": [], "locale": null});
    assert_eq!(put(&mut api, "u-1", body).await.1, json!({"quiet_hours": {"start": "13:00", "end": "14:30"}}));
    assert_eq!(put(&mut api, "u-1", json!({})).await, (200, json!({})));
    assert_eq!(get(&mut api, "u-1").await, (200, json!({})));
}

#[tokio::test]
async fn a_user_without_preferences_gets_the_empty_document() {
    let mut api = api();
    assert_eq!(get(&mut api, "nobody").await, (200, json!({})));
}

#[tokio::test]
async fn every_bad_field_is_named_and_nothing_changes() {
    let mut api = api();
    put(&mut api, "u-1", full()).await;
    let before = get(&mut api, "u-1").await.1;
    let cases = [
        (json!({"push_enabled": "yes"}), "invalid_field", "push_enabled"),
        (json!({"push_enabled": 1}), "invalid_field", "push_enabled"),
        (json!({"muted_categories": "promo"}), "invalid_field", "muted_categories"),
        (json!({"muted_categories": [1]}), "invalid_field", "muted_categories"),
        (json!({"muted_categories": [""]}), "invalid_field", "muted_categories"),
        (json!({"muted_categories": [" promo"]}), "invalid_field", "muted_categories"),
        (json!({"muted_categories": ["a\u{7}b"]}), "invalid_field", "muted_categories"),
        (json!({"muted_categories": ["x".repeat(129)]}), "invalid_field", "muted_categories"),
        (json!({"muted_categories": ["promo", "promo"]}), "invalid_field", "muted_categories"),
        (
            json!({"muted_categories": (0..101).map(|i| format!("c{i}")).collect::<Vec<_>>()}),
            "invalid_field",
            "muted_categories",
        ),
        (json!({"time_zone": "Mars/Olympus_Mons"}), "invalid_field", "time_zone"),
        (json!({"time_zone": "america/sao_paulo"}), "invalid_field", "time_zone"),
        (json!({"time_zone": -3}), "invalid_field", "time_zone"),
        (json!({"locale": "pt_BR"}), "invalid_field", "locale"),
        (json!({"locale": "portuguese"}), "invalid_field", "locale"),
        (json!({"locale": ["pt-BR"]}), "invalid_field", "locale"),
        (json!({"quiet_hours": "22:00-07:00"}), "invalid_field", "quiet_hours"),
        (json!({"quiet_hours": {"start": "22:00", "end": "22:00"}}), "invalid_field", "quiet_hours"),
        (json!({"quiet_hours": {"end": "07:00"}}), "missing_field", "quiet_hours.start"),
        (json!({"quiet_hours": {"start": "22:00"}}), "missing_field", "quiet_hours.end"),
        (json!({"quiet_hours": {"start": "10pm", "end": "07:00"}}), "invalid_field", "quiet_hours.start"),
        (json!({"quiet_hours": {"start": "22:00", "end": "24:00"}}), "invalid_field", "quiet_hours.end"),
        (json!({"quiet_hours": {"start": "22:00", "end": "07:00", "days": [1]}}), "unknown_field", "quiet_hours.days"),
        (json!({"push_enabled": true, "devices": []}), "unknown_field", "devices"),
        (json!({"timezone": "UTC"}), "unknown_field", "timezone"),
    ];
    for (body, code, field) in cases {
        let (status, err) = put(&mut api, "u-1", body.clone()).await;
        assert_eq!(status, 400, "{body} → {err}");
        assert_eq!((err["error"].as_str(), err["field"].as_str()), (Some(code), Some(field)), "{body} → {err}");
    }
    let (_, err) = put(&mut api, "u-1", json!({"time_zone": "Mars/Olympus_Mons"})).await;
    assert!(err["message"].as_str().unwrap().contains("Mars/Olympus_Mons"), "{err}");
    let (status, err) = put(&mut api, "u-1", json!(["push_enabled"])).await;
    assert_eq!((status, err["error"].as_str()), (400, Some("invalid_json")));
    assert_eq!(get(&mut api, "u-1").await.1, before);
}

#[tokio::test]
async fn only_the_user_or_a_backend_reads_and_writes_them() {
    let mut api = api();
    let body = json!({"push_enabled": false});
    let (status, err) = api.call(request("PUT", "u-1", "preferences", Auth::Jwt("u-2"), Some(&body))).await;
    assert_eq!((status, err["error"].as_str()), (403, Some("forbidden")));
    let (status, _) = api.call(request("GET", "u-1", "preferences", Auth::Jwt("u-2"), None)).await;
    assert_eq!(status, 403);
    let (status, _) = api.call(request("PUT", "u-1", "preferences", Auth::None, Some(&body))).await;
    assert_eq!(status, 401);
    assert_eq!(get(&mut api, "u-1").await.1, json!({}), "nothing was written");

    let (status, _) = api.call(request("PUT", "u-1", "preferences", Auth::Iam, Some(&body))).await;
    assert_eq!(status, 200);
    assert_eq!(api.call(request("GET", "u-1", "preferences", Auth::Iam, None)).await, (200, body));
    let (status, err) = api.call(request("DELETE", "u-1", "preferences", Auth::Jwt("u-1"), None)).await;
    assert_eq!((status, err["error"].as_str()), (405, Some("method_not_allowed")));
}

#[tokio::test]
async fn preferences_and_devices_leave_each_other_alone() {
    let mut api = api();
    assert_eq!(api.register("u-1", json!({"platform": "android", "token": FCM})).await.0, 201);
    put(&mut api, "u-1", full()).await;
    put(&mut api, "u-1", json!({})).await;
    assert_eq!(api.tokens("u-1").await, [FCM], "a PUT of preferences never touches devices");
    put(&mut api, "u-1", full()).await;
    assert_eq!(api.register("u-1", json!({"platform": "ios", "token": common::IOS})).await.0, 201);
    let user = &api.store.lookup(&["u-1".into()]).await.unwrap()["u-1"];
    assert!(!user.push_enabled && user.muted_categories.len() == 2, "registration never touches preferences");
    assert_eq!(get(&mut api, "u-1").await.1["locale"], "pt-BR");
}
