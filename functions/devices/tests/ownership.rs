//! One owner per token and apps, in-process: a token registered by another
//! user leaves the first user's list, a lost race is a 409 naming `token`,
//! the token index's ids are no user's, and with `APPS` only the
//! deployment's apps are taken.

mod common;

use chrono::Utc;
use common::{Api, Auth, FCM, IOS, request};
use devices::handler::handle;
use devices::settings::Settings;
use serde_json::{Value, json};
use shared::apps::Apps;
use shared::batch::Platform;
use shared::devices::{
    DeviceError, DeviceRegister, DeviceUnregister, Preferences, PreferencesStore, Registered, Registration,
    TOKEN_ITEM_PREFIX,
};

#[tokio::test]
async fn a_token_registered_by_another_user_leaves_the_first() {
    let mut api = Api::new(Settings::new("unused", 10));
    let phone = json!({"platform": "android", "token": FCM});
    assert_eq!(api.register("u-a", phone.clone()).await.0, 201);
    assert_eq!(api.register("u-a", json!({"platform": "ios", "token": IOS})).await.0, 201);
    // The phone switches accounts: B registers its token.
    let (status, body) = api.register("u-b", phone.clone()).await;
    assert_eq!((status, body["created"].as_bool()), (201, Some(true)), "{body}");
    assert_eq!(api.tokens("u-a").await, [IOS], "A keeps only its other device");
    assert_eq!(api.tokens("u-b").await, [FCM]);
    assert_eq!(api.store.owner(Platform::Android, FCM).as_deref(), Some("u-b"));

    // B signs out: the token item goes with the device; A's list is as it was.
    let (status, _) = api.call(request("DELETE", "u-b", &format!("devices/{FCM}"), Auth::Jwt("u-b"), None)).await;
    assert_eq!(status, 204);
    assert_eq!(api.store.owner(Platform::Android, FCM), None);
    assert!(api.tokens("u-b").await.is_empty());
    assert_eq!(api.tokens("u-a").await, [IOS]);
}

#[tokio::test]
async fn token_item_ids_are_no_user_id() {
    let mut api = Api::new(Settings::new("unused", 10));
    let user = format!("{TOKEN_ITEM_PREFIX}android#{FCM}");
    let (status, err) = api.call(request("PUT", &user, "devices", Auth::Iam, Some(&json!({})))).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("id")), "{err}");
    let (status, err) = api.call(request("GET", &user, "preferences", Auth::Iam, None)).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("id")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("reserved"), "{err}");
}

/// A table whose registrations always lose the race, as the protocol
/// reports it.
struct AlwaysClaimed;

impl DeviceRegister for AlwaysClaimed {
    async fn register(&self, _: &str, r: &Registration, _: usize) -> Result<Registered, DeviceError> {
        Err(DeviceError::Claimed { platform: r.device.platform.as_str(), token: r.device.token.clone() })
    }
}
impl DeviceUnregister for AlwaysClaimed {
    async fn unregister(&self, _: &str, _: &str) -> Result<bool, DeviceError> {
        Ok(false)
    }
}
impl PreferencesStore for AlwaysClaimed {
    async fn put_preferences(&self, _: &str, _: &Preferences) -> Result<(), DeviceError> {
        Ok(())
    }
    async fn get_preferences(&self, _: &str) -> Result<Preferences, DeviceError> {
        Ok(Preferences::default())
    }
}

#[tokio::test]
async fn a_lost_race_is_a_409_naming_the_token() {
    let body = json!({"platform": "android", "token": FCM});
    let put = request("PUT", "u-a", "devices", Auth::Jwt("u-a"), Some(&body));
    let response = handle(&AlwaysClaimed, &Settings::new("unused", 10), put, Utc::now()).await;
    assert_eq!(response.status(), 409);
    let lambda_http::Body::Text(text) = response.body() else { panic!("a JSON body") };
    let err: Value = serde_json::from_str(text).unwrap();
    assert_eq!((err["error"].as_str(), err["field"].as_str()), (Some("conflict"), Some("token")), "{err}");
    assert!(err["message"].as_str().unwrap().contains("claimed by another user at the same time"), "{err}");
}

fn with_apps() -> Settings {
    let apps = Apps::parse(
        r#"[{"app": "com.example.phone", "platform": "ios"},
            {"app": "com.example.android", "platform": "android"}]"#,
        None,
        None,
    )
    .unwrap();
    Settings { apps: Some(apps), ..Settings::new("unused", 10) }
}

#[tokio::test]
async fn with_apps_only_the_deployments_apps_are_registered() {
    let mut api = Api::new(with_apps());
    let ok = [
        json!({"platform": "ios", "token": IOS, "app": "com.example.phone"}),
        json!({"platform": "android", "token": FCM, "app": "com.example.android"}),
    ];
    for body in ok {
        let (status, answer) = api.register("u-1", body.clone()).await;
        assert_eq!(status, 201, "{body} → {answer}");
    }
    let refused = [
        json!({"platform": "ios", "token": IOS, "app": "com.example.android"}),
        json!({"platform": "android", "token": format!("{FCM}2"), "app": "com.other.android"}),
        // No default iOS app (no APNS_TOPIC): an iOS device must name its app.
        json!({"platform": "ios", "token": IOS.replace('a', "b")}),
    ];
    for body in refused {
        let (status, err) = api.register("u-2", body.clone()).await;
        assert_eq!((status, err["field"].as_str()), (400, Some("app")), "{body} → {err}");
    }
    assert!(api.tokens("u-2").await.is_empty(), "a refused app writes nothing");
    assert_eq!(api.tokens("u-1").await.len(), 2, "and takes nothing from anyone");
    // An Android device without an app goes to the default project.
    let (status, _) = api.register("u-2", json!({"platform": "android", "token": format!("{FCM}3")})).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn without_apps_any_well_formed_app_is_registered() {
    let mut api = Api::new(Settings::new("unused", 10));
    let (status, _) = api.register("u-1", json!({"platform": "ios", "token": IOS, "app": "com.anything.at.all"})).await;
    assert_eq!(status, 201);
}
