//! `kind: background`: an APNs `content-available` push at priority 5 with
//! nothing shown, an FCM data-only message at NORMAL priority, and the data
//! alone to browsers; vars fill the data; dead tokens are pruned as ever.

mod common;

use common::*;
use serde_json::json;
use shared::apps::Route;
use shared::batch::Platform;

#[tokio::test]
async fn a_background_push_wakes_every_app_and_shows_nothing() {
    let d = deps(30, 50, None);
    let header = json!({"campaign": "sync", "kind": "background",
        "notification": {"data": {"sync": "inbox", "since": "{{cursor|0}}"}, "ttl_seconds": 600}});
    let mut body = header.to_string();
    for i in 0..30 {
        body.push('\n');
        body.push_str(&json!({"user_id": format!("u-{i}"), "vars": {"cursor": format!("c{i}")}}).to_string());
    }
    let s = run(&d, "batches/sync.jsonl", body).await;
    assert_eq!(s.status, "done", "{:?}", s.reason);
    s.counters.check_identities().unwrap();
    let ios = s.counters.devices[&Platform::Ios];
    assert!(ios.delivered > 0 && ios.pruned > 0, "{ios:?}");

    let sent = d.push.sent.lock().unwrap();
    let to_ios = &sent[&ios_token(1, "")];
    assert!(matches!(to_ios.route, Route::Apns { .. }));
    let apns = &to_ios.headers.apns;
    assert_eq!((apns.push_type.as_str(), apns.priority, apns.ttl_seconds), ("background", 5, Some(600)));
    assert_eq!(to_ios.body, json!({"aps": {"content-available": 1}, "sync": "inbox", "since": "c1"}));

    let to_android = &sent["android-token-00000007-abcdefghijklmnop"];
    assert_eq!(
        to_android.body,
        json!({"message": {"token": "android-token-00000007-abcdefghijklmnop",
            "data": {"sync": "inbox", "since": "c7"}, "android": {"priority": "NORMAL", "ttl": "600s"}}})
    );
    drop(sent);
    let users = d.devices.users.lock().unwrap();
    assert!(users["u-3"].devices.is_empty(), "u-3's dead token was pruned");
}
