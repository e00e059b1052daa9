//! `kind: data`: FCM data-only (string values, the header's priority, normal
//! by default), APNs a background push carrying the data at priority 5
//! whatever the header says, and the data to browsers.

mod common;

use common::*;
use serde_json::json;
use shared::batch::{Device, Platform, WebKeys};

const P256DH: &str = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";

#[tokio::test]
async fn data_reaches_each_platform_in_its_own_form() {
    let d = deps(8, 50, None);
    d.devices
        .users
        .lock()
        .unwrap()
        .get_mut("u-1")
        .unwrap()
        .devices
        .push(Device::web("https://push.example/s/u-1", WebKeys { p256dh: P256DH.into(), auth: AUTH.into() }));
    let header = json!({"campaign": "scores", "kind": "data", "notification": {"priority": "high", "collapse_key": "match-7",
        "data": {"match": "7", "score": "{{home}}-{{away}}", "minute": 78, "final": false}}});
    let body = format!(
        "{header}\n{}\n{}\n",
        json!({"user_id": "u-0", "vars": {"home": 2, "away": 1}}),
        json!({"user_id": "u-1", "vars": {"home": "3", "away": "0"}})
    );
    let s = run(&d, "batches/scores.jsonl", body).await;
    assert_eq!(s.status, "done", "{:?}", s.reason);
    s.counters.check_identities().unwrap();
    assert_eq!(s.counters.devices[&Platform::Web].delivered, 1);

    let sent = d.push.sent.lock().unwrap();
    let ios = &sent[&ios_token(0, "")];
    assert_eq!((ios.headers.apns.push_type.as_str(), ios.headers.apns.priority), ("background", 5));
    assert_eq!(
        ios.body,
        json!({"aps": {"content-available": 1}, "match": "7", "score": "2-1", "minute": 78, "final": false}),
        "APNs keeps the data's JSON types"
    );
    let android = &sent["android-token-00000000-abcdefghijklmnop"].body["message"];
    assert_eq!(android["data"], json!({"match": "7", "score": "2-1", "minute": "78", "final": "false"}));
    assert_eq!(android["android"], json!({"priority": "HIGH", "collapse_key": "match-7"}));
    assert!(android.get("notification").is_none(), "a data message");
    let web = &sent["https://push.example/s/u-1"];
    assert_eq!(web.body, json!({"data": {"match": "7", "score": "3-0", "minute": 78, "final": false}}));
    assert_eq!(web.headers.web.urgency, "high");
    assert_eq!(web.headers.web.topic.as_ref().unwrap(), "match-7");
}
