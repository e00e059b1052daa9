//! Headers that break their kind's rules: the job fails in the pre-flight,
//! before anything is sent, with an error naming the field.

mod common;

use common::*;
use serde_json::{Value, json};

async fn refused(header: Value) -> String {
    let d = deps(20, 50, None);
    let mut body = header.to_string();
    for i in 0..20 {
        body.push_str(&format!("\n\"u-{i}\""));
    }
    let s = run(&d, "batches/refused.jsonl", body).await;
    assert_eq!(s.status, "failed", "{header}");
    assert!(d.push.sent.lock().unwrap().is_empty(), "{header}: nothing is sent");
    assert_eq!(s.counters.total_devices().attempted, 0);
    s.reason.unwrap_or_default()
}

#[tokio::test]
async fn each_broken_rule_fails_the_job_naming_the_field() {
    for (header, needle) in [
        (json!({"campaign": "c", "kind": "silent", "notification": {"body": "b"}}), "`kind`: unknown variant `silent`"),
        (
            json!({"campaign": "c", "kind": "live_activity", "notification": {"live_activity": {"event": "update", "timestamp": 1}}}),
            "`notification.live_activity.content_state` is required",
        ),
        (
            json!({"campaign": "c", "kind": "live_activity", "notification": {"title": "t"}}),
            "`notification.live_activity` is required",
        ),
        (
            json!({"campaign": "c", "kind": "background", "notification": {"title": "Hi", "data": {"k": "v"}}}),
            "`notification.title`: a background push shows nothing",
        ),
        (json!({"campaign": "c", "kind": "data", "notification": {}}), "`notification.data` must not be empty"),
        (
            json!({"campaign": "c", "kind": "data", "notification": {"data": {"google.c.a": "x"}}}),
            "`notification.data.google.c.a` is a reserved key",
        ),
        (
            json!({"campaign": "c", "notification": {"body": "b", "interruption_level": "loud"}}),
            "`notification.interruption_level`: unknown variant `loud`",
        ),
    ] {
        let reason = refused(header.clone()).await;
        assert!(reason.contains(needle), "{header}\n  said: {reason}\n  wanted: {needle}");
    }
}
