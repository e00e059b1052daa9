//! The kinds of push beyond a plain alert: APNs background and Live Activity pushes,
//! rich alerts, and FCM data messages, each accepted when it follows Apple's or
//! Google's rules and refused with their answer when it does not.

mod support;

use serde_json::{Value, json};
use support::{Sandbox, live_token, now_secs};

const BUNDLE: &str = "com.example.app";

struct Apns<'a> {
    sb: &'a Sandbox,
    client: reqwest::Client,
    jwt: String,
}

impl Apns<'_> {
    async fn send(&self, headers: &[(&str, &str)], payload: Value) -> (u16, Value) {
        let mut req = self
            .client
            .post(self.sb.http_url(&format!("/3/device/{}", live_token(7))))
            .header("authorization", format!("bearer {}", self.jwt))
            .body(payload.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("apns request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("json") })
    }
}

fn refusal(reason: &str) -> (u16, Value) {
    (400, json!({ "reason": reason }))
}

#[tokio::test]
async fn apns_background_live_activity_and_rich_alerts() {
    let sb = Sandbox::start(&[]);
    let apns = Apns { sb: &sb, client: sb.h2c_client(), jwt: sb.apns_jwt() };
    let ok = (200, Value::Null);
    let background = |priority| [("apns-topic", BUNDLE), ("apns-push-type", "background"), ("apns-priority", priority)];
    let silent = json!({"aps": {"content-available": 1}, "sync": "inbox"});

    assert_eq!(apns.send(&background("5"), silent.clone()).await, ok);
    assert_eq!(apns.send(&background("10"), silent.clone()).await, refusal("BadPriority"));
    let loud = json!({"aps": {"content-available": 1, "sound": "default"}});
    assert_eq!(apns.send(&background("5"), loud).await, refusal("InvalidPayload"));

    let la_topic = format!("{BUNDLE}.push-type.liveactivity");
    let la = [("apns-topic", la_topic.as_str()), ("apns-push-type", "liveactivity"), ("apns-priority", "10")];
    let now = now_secs();
    let update = json!({"aps": {"event": "update", "timestamp": now, "content-state": {"home": 2, "away": 1},
        "stale-date": now + 900, "alert": {"title": "Goal", "body": "2-1"}}});
    assert_eq!(apns.send(&la, update).await, ok);
    let end = json!({"aps": {"event": "end", "timestamp": now, "content-state": {"home": 2, "away": 1},
        "dismissal-date": now + 3600}});
    assert_eq!(apns.send(&la, end).await, ok);
    let start = json!({"aps": {"event": "start", "timestamp": now, "content-state": {"home": 0, "away": 0},
        "attributes-type": "MatchAttributes", "attributes": {"home": "A", "away": "B"}}});
    assert_eq!(apns.send(&la, start).await, ok);
    let no_state = json!({"aps": {"event": "update", "timestamp": now}});
    assert_eq!(apns.send(&la, no_state).await, refusal("InvalidPayload"));
    let no_time = json!({"aps": {"event": "update", "content-state": {}}});
    assert_eq!(apns.send(&la, no_time).await, refusal("InvalidPayload"));
    let plain_topic = [("apns-topic", BUNDLE), ("apns-push-type", "liveactivity")];
    let fine = json!({"aps": {"event": "update", "timestamp": now, "content-state": {}}});
    assert_eq!(apns.send(&plain_topic, fine).await, refusal("BadTopic"));

    let alert = [("apns-topic", BUNDLE), ("apns-push-type", "alert")];
    let rich = json!({"aps": {"alert": {"title": "Order", "body": "Out for delivery"}, "mutable-content": 1,
        "interruption-level": "time-sensitive", "relevance-score": 0.8, "thread-id": "order-42"},
        "image": "https://cdn.example.com/map.png"});
    assert_eq!(apns.send(&alert, rich).await, ok);
    let urgent = json!({"aps": {"alert": "x", "interruption-level": "urgent"}});
    assert_eq!(apns.send(&alert, urgent).await, refusal("InvalidPayload"));
    let over_one = json!({"aps": {"alert": "x", "relevance-score": 2}});
    assert_eq!(apns.send(&alert, over_one).await, refusal("InvalidPayload"));

    let stats = sb.stats().await;
    assert_eq!(stats.apns.delivered, 5);
    assert_eq!(stats.apns.rejected.get("BadPriority"), Some(&1));
    assert_eq!(stats.apns.rejected.get("BadTopic"), Some(&1));
    assert_eq!(stats.apns.rejected.get("InvalidPayload"), Some(&5));
}

fn fcm_token() -> String {
    format!("data1:APA91b{}", "x_Y-9".repeat(30))
}

#[tokio::test]
async fn fcm_data_messages_and_reserved_keys() {
    let sb = Sandbox::start(&[]);
    let sa = gcp_auth::CustomServiceAccount::from_file(&sb.ready.fcm_service_account).expect("service account");
    let token = gcp_auth::TokenProvider::token(&sa, &["https://www.googleapis.com/auth/firebase.messaging"])
        .await
        .expect("oauth token");
    let http = reqwest::Client::new();
    let send = |message: Value| {
        http.post(sb.http_url("/v1/projects/pushbatch-local/messages:send"))
            .bearer_auth(token.as_str())
            .json(&json!({ "message": message }))
            .send()
    };

    let data_only = json!({"token": fcm_token(), "data": {"sync": "inbox", "since": "1700000000"},
        "android": {"priority": "HIGH"}});
    let resp = send(data_only).await.expect("send");
    assert_eq!(resp.status(), 200);
    let name = resp.json::<Value>().await.expect("json")["name"].as_str().expect("name").to_owned();
    assert!(name.starts_with("projects/pushbatch-local/messages/0:"), "{name}");

    let full = json!({"token": fcm_token(), "notification": {"title": "t", "body": "b",
        "image": "https://cdn.example.com/i.png"}, "fcm_options": {"analytics_label": "spring-sale_2026"},
        "android": {"priority": "NORMAL"}});
    assert_eq!(send(full).await.expect("send").status(), 200);

    for (message, text) in [
        (json!({"token": fcm_token(), "data": {"from": "me"}}), "Invalid data payload key: from"),
        (
            json!({"token": fcm_token(), "data": {"google.sent_time": "1"}}),
            "Invalid data payload key: google.sent_time",
        ),
        (json!({"token": fcm_token(), "notification": {"image": "cat.png"}}), "message.notification.image"),
        (json!({"token": fcm_token(), "fcm_options": {"analytics_label": "no spaces"}}), "analytics_label"),
        (json!({"token": fcm_token(), "data": {"count": 3}}), "Invalid JSON payload"),
    ] {
        let resp = send(message.clone()).await.expect("send");
        assert_eq!(resp.status(), 400, "{message}");
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(body["error"]["details"][0]["errorCode"], "INVALID_ARGUMENT");
        let got = body["error"]["message"].as_str().expect("message");
        assert!(got.contains(text), "{message}: {got}");
    }
    let stats = sb.stats().await;
    assert_eq!(stats.fcm.delivered, 2);
    assert_eq!(stats.fcm.rejected.get("INVALID_ARGUMENT"), Some(&5));
}
