//! `kind: live_activity`: an ActivityKit push to each activity's token, at
//! the app's `.push-type.liveactivity` topic, its content-state filled per
//! user. Android and web devices in such a file fail, named, without a
//! request: Live Activities exist only on iOS.

mod common;

use common::*;
use serde_json::json;
use shared::apps::Route;
use shared::batch::Platform;

#[tokio::test]
async fn each_activity_gets_its_own_content_state_and_other_platforms_fail_named() {
    let d = deps(0, 50, None);
    let header = json!({"campaign": "match-7", "kind": "live_activity", "notification": {
        "title": "Goal!", "body": "{{scorer}} scores", "priority": "normal",
        "live_activity": {"event": "update", "timestamp": 1_790_000_000, "stale_date": 1_790_000_900,
            "content_state": {"score": "{{home}}-{{away}}", "minute": 78}}}});
    let fan = |i: usize, home: u32| {
        json!({"user_id": format!("fan-{i}"), "vars": {"home": home, "away": 1, "scorer": "Lee"},
            "devices": [{"platform": "ios", "token": ios_token(i, "")}]})
    };
    let mixed = json!({"user_id": "fan-9", "devices": [
        {"platform": "android", "token": "android-token-00000009-abcdefghijklmnop"},
        {"platform": "ios", "token": ios_token(9, "")}]});
    let body = format!("{header}\n{}\n{}\n{mixed}\n", fan(0, 2), fan(1, 3));
    let s = run(&d, "batches/live.jsonl", body).await;
    assert_eq!(s.status, "done", "{:?}", s.reason);
    s.counters.check_identities().unwrap();
    assert_eq!(s.counters.devices[&Platform::Ios].delivered, 3);
    assert_eq!(s.counters.devices[&Platform::Android].failed, 1);

    let sent = d.push.sent.lock().unwrap();
    let first = &sent[&ios_token(0, "")];
    let Route::Apns { topic, .. } = &first.route else { panic!("{:?}", first.route) };
    assert_eq!(first.headers.apns.topic_for(topic).unwrap(), "com.example.push-type.liveactivity");
    assert_eq!((first.headers.apns.push_type.as_str(), first.headers.apns.priority), ("liveactivity", 5));
    assert_eq!(
        first.body,
        json!({"aps": {"event": "update", "timestamp": 1_790_000_000, "stale-date": 1_790_000_900,
            "content-state": {"score": "2-1", "minute": 78}, "alert": {"title": "Goal!", "body": "Lee scores"}}})
    );
    assert_eq!(sent[&ios_token(1, "")].body["aps"]["content-state"]["score"], "3-1");
    assert!(!sent.contains_key("android-token-00000009-abcdefghijklmnop"), "never sent");
    drop(sent);

    let failed =
        String::from_utf8(d.objects.get(BUCKET, s.failed_report.as_deref().unwrap()).unwrap().to_vec()).unwrap();
    assert!(failed.contains("a live_activity push is sent to iOS only; android devices are not sent"), "{failed}");
}
