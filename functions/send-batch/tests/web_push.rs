//! Web Push, the third platform: subscriptions stored in the devices table
//! and inline, a malformed one counted as an invalid entry with its reason,
//! an expired one pruned by its endpoint, RFC 8030 headers from the
//! notification, and a failure re-driven in the subscription's own form.

mod common;

use std::collections::HashSet;

use common::*;
use serde_json::{Value, json};
use shared::apps::Route;
use shared::batch::{Device, Platform, WebKeys};
use shared::devices::{MemoryDevices, UserDevices};

const P256DH: &str = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

fn keys() -> WebKeys {
    WebKeys { p256dh: P256DH.into(), auth: AUTH.into() }
}

fn subscription(endpoint: &str) -> Value {
    json!({"endpoint": endpoint, "expirationTime": null, "keys": {"p256dh": P256DH, "auth": AUTH}})
}

#[tokio::test]
async fn browsers_get_the_message_and_expired_subscriptions_are_pruned() {
    let mut d = deps(0, 50, None);
    let user = |devices| UserDevices {
        devices,
        push_enabled: true,
        muted_categories: HashSet::new(),
        ..UserDevices::default()
    };
    d.devices = MemoryDevices::with([
        (
            "u-0".to_owned(),
            user(vec![Device::web("https://push.example/s/0", keys()), Device::new(Platform::Ios, ios_token(0, ""))]),
        ),
        ("u-1".to_owned(), user(vec![Device::web("https://push.example/s/1/gone", keys())])),
    ]);
    let header = json!({"campaign": "web", "notification": {"title": "Hi {{name|there}}", "body": "News",
        "data": {"url": "/news"}, "ttl_seconds": 3600, "priority": "normal", "collapse_key": "news-1"}});
    let inline = json!({"user_id": "u-2", "vars": {"name": "Bo"},
        "devices": [{"platform": "web", "subscription": subscription("https://push.example/s/2")}]});
    let malformed = json!({"user_id": "u-3",
        "devices": [{"platform": "web", "subscription": subscription("http://push.example/s/3")}]});
    let no_keys = json!({"user_id": "u-4", "devices": [{"platform": "web", "token": "https://push.example/s/4"}]});
    let body = format!("{header}\n\"u-0\"\n\"u-1\"\n{inline}\n{malformed}\n{no_keys}\n");
    let s = run(&d, "batches/web.jsonl", body).await;
    assert_eq!(s.status, "done", "{:?}", s.reason);
    s.counters.check_identities().unwrap();
    let web = s.counters.devices[&Platform::Web];
    assert_eq!((web.attempted, web.delivered, web.pruned, web.failed), (3, 2, 1, 0));
    assert_eq!(s.counters.invalid_by_reason.get("malformed_subscription"), Some(&2));

    let sent = d.push.sent.lock().unwrap();
    let to_bo = &sent["https://push.example/s/2"];
    assert_eq!(to_bo.route, Route::WebPush);
    assert_eq!(to_bo.body, json!({"title": "Hi Bo", "body": "News", "data": {"url": "/news"}}));
    let headers = &to_bo.headers.web;
    assert_eq!((headers.ttl.to_str().unwrap(), headers.urgency.to_str().unwrap()), ("3600", "normal"));
    assert_eq!(headers.topic.as_ref().unwrap(), "news-1");
    assert_eq!(sent["https://push.example/s/0"].body["title"], "Hi there");
    drop(sent);

    let users = d.devices.users.lock().unwrap();
    assert!(users["u-1"].devices.is_empty(), "the expired subscription was removed by its endpoint");
    assert_eq!(users["u-0"].devices.len(), 2);
}

#[tokio::test]
async fn a_failed_web_device_is_re_driven_with_its_subscription() {
    let d = deps(0, 50, None);
    let header = json!({"campaign": "web-fail", "kind": "data", "notification": {"data": {"k": "v"}}});
    let entry = json!({"user_id": "u-9", "devices": [{"platform": "web", "subscription": subscription("https://push.example/s/9/refused")}]});
    let s = run(&d, "batches/web-fail.jsonl", format!("{header}\n{entry}\n")).await;
    assert_eq!(s.status, "done", "{:?}", s.reason);
    let failed =
        String::from_utf8(d.objects.get(BUCKET, s.failed_report.as_deref().unwrap()).unwrap().to_vec()).unwrap();
    let line: Value = serde_json::from_str(failed.lines().nth(1).unwrap()).unwrap();
    assert_eq!(
        line["devices"][0],
        json!({"platform": "web", "subscription": {"endpoint": "https://push.example/s/9/refused",
        "keys": {"p256dh": P256DH, "auth": AUTH}}})
    );
    assert_eq!(shared::batch::entry_from_value(line).unwrap().devices.unwrap()[0].keys, Some(keys()), "it reads back");
}
