//! Several apps in one devices table: each device goes with its own app's
//! topic (and environment), and an answer that says "wrong app" is a failure
//! to record, never a reason to prune a live token.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::json;
use shared::apps::{ApnsEnvironment, Apps, Route};
use shared::batch::{Device, Platform};
use shared::devices::{MemoryDevices, UserDevices};

const PHONE: &str = "com.example.phone";
const PAD: &str = "com.example.pad";
const DEBUG: &str = "com.example.debug";

fn device(i: usize, app: &str) -> Device {
    Device { app: Some(app.into()), ..Device::new(Platform::Ios, ios_token(i, "")) }
}

fn user(devices: Vec<Device>) -> UserDevices {
    UserDevices { devices, push_enabled: true, muted_categories: HashSet::new(), ..UserDevices::default() }
}

#[tokio::test]
async fn two_apps_in_one_table_each_get_their_topic_and_no_live_token_is_pruned() {
    let mut d = deps(0, 50, None);
    d.settings.apps = Apps::parse(
        &json!([{"app": PHONE, "platform": "ios"}, {"app": PAD, "platform": "ios"},
                {"app": DEBUG, "platform": "ios", "environment": "development"}])
        .to_string(),
        Some("com.example"),
        None,
    )
    .unwrap();
    d.devices = MemoryDevices::with([
        ("u-0".to_owned(), user(vec![device(0, PHONE), device(1, PAD)])),
        ("u-1".to_owned(), user(vec![device(2, DEBUG)])),
        // The table says phone, the token is the pad's: APNs refuses the topic.
        ("u-2".to_owned(), user(vec![device(3, PHONE)])),
        ("u-3".to_owned(), user(vec![device(4, "com.stranger")])),
    ]);
    {
        let mut owners = d.push.owners.lock().unwrap();
        for (i, app) in [(0, PHONE), (1, PAD), (2, DEBUG), (3, PAD), (4, "com.stranger"), (5, PAD)] {
            owners.insert(ios_token(i, ""), app.to_owned());
        }
    }
    let key = "batches/apps.jsonl";
    let inline = json!({"user_id": "u-9", "devices": [{"platform": "ios", "token": ios_token(5, ""), "app": PAD}]});
    let body = format!("{}\n\"u-0\"\n\"u-1\"\n\"u-2\"\n\"u-3\"\n{inline}", header());
    let etag = d.objects.insert(BUCKET, key, body);
    invoke(&d, s3_event(key, &etag, "01")).await;
    drain(&d).await;

    let s = summary(&d);
    let ios = s.counters.devices[&Platform::Ios];
    assert_eq!((ios.delivered, ios.pruned, ios.failed), (4, 0, 2), "{ios:?}");
    let routes = d.push.routes.lock().unwrap();
    let topic = |i: usize| match &routes[&ios_token(i, "")] {
        Route::Apns { topic, environment } => (topic.to_str().unwrap().to_owned(), *environment),
        other => panic!("{other:?}"),
    };
    assert_eq!(topic(0), (PHONE.to_owned(), ApnsEnvironment::Production));
    assert_eq!(topic(1), (PAD.to_owned(), ApnsEnvironment::Production));
    assert_eq!(topic(2), (DEBUG.to_owned(), ApnsEnvironment::Development));
    assert_eq!(topic(5).0, PAD, "an inline device goes as its own app too");
    assert!(!routes.contains_key(&ios_token(4, "")), "an unknown app is never sent");

    let users = d.devices.users.lock().unwrap();
    let stored: usize = users.values().map(|u| u.devices.len()).sum();
    assert_eq!(stored, 5, "no token was pruned");
    let failed =
        String::from_utf8(d.objects.get(BUCKET, s.failed_report.as_deref().unwrap()).unwrap().to_vec()).unwrap();
    assert!(failed.contains("DeviceTokenNotForTopic"), "{failed}");
    assert!(failed.contains("unknown app \\\"com.stranger\\\" for ios"), "{failed}");
}
