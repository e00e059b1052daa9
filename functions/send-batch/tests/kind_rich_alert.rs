//! Rich alerts (the default kind): an image (APNs through mutable-content
//! and an `image` key for the service extension, FCM `notification.image`),
//! interruption level, relevance score, thread id and FCM's analytics
//! label; `{{vars}}` with defaults in every text, data included.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn every_rich_field_reaches_its_provider() {
    let d = deps(8, 50, None);
    let header = json!({"campaign": "sale", "notification": {
        "title": "{{name|Hello}}, it's on", "body": "Up to {{pct|50}}% off", "sound": "default",
        "image": "https://cdn.example/sale/{{tier|std}}.png", "interruption_level": "time-sensitive",
        "relevance_score": 0.9, "thread_id": "sale-{{tier|std}}", "analytics_label": "bf-2026",
        "data": {"deeplink": "app://sale?tier={{tier|std}}"}}});
    let body = format!(
        "{header}\n{}\n\"u-1\"\n",
        json!({"user_id": "u-0", "vars": {"name": "Ann", "pct": 70, "tier": "gold"}})
    );
    let s = run(&d, "batches/sale.jsonl", body).await;
    assert_eq!(s.status, "done", "{:?}", s.reason);
    s.counters.check_identities().unwrap();

    let sent = d.push.sent.lock().unwrap();
    let ann = &sent[&ios_token(0, "")];
    assert_eq!(ann.headers.apns.push_type, "alert");
    assert_eq!(
        ann.body,
        json!({"aps": {"alert": {"title": "Ann, it's on", "body": "Up to 70% off"}, "sound": "default",
            "mutable-content": 1, "interruption-level": "time-sensitive", "relevance-score": 0.9,
            "thread-id": "sale-gold"},
            "image": "https://cdn.example/sale/gold.png", "deeplink": "app://sale?tier=gold"})
    );
    let without_vars = &sent[&ios_token(1, "")].body;
    assert_eq!(without_vars["aps"]["alert"]["title"], "Hello, it's on", "the default");
    assert_eq!(without_vars["image"], "https://cdn.example/sale/std.png");

    let android = &sent["android-token-00000000-abcdefghijklmnop"].body["message"];
    assert_eq!(
        android["notification"],
        json!({"title": "Ann, it's on", "body": "Up to 70% off", "image": "https://cdn.example/sale/gold.png"})
    );
    assert_eq!(android["fcm_options"], json!({"analytics_label": "bf-2026"}));
    assert_eq!(android["data"]["deeplink"], "app://sale?tier=gold");
    assert_eq!(android["android"]["priority"], "HIGH");
}
