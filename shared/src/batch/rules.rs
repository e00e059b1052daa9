//! The rules each kind's notification must follow before anything is sent.
//! They are the providers' own: Apple's "Pushing background updates to your
//! App" and "Starting and updating Live Activities with ActivityKit push
//! notifications", FCM v1's `Message` reference, RFC 8030/8291 for Web Push.

use serde_json::Value;

use super::kind::{Kind, LiveActivityEvent};
use super::notification::{Notification, Priority};

/// FCM refuses these data keys ("from", "message_type", and any key starting
/// with "google." or "gcm."); `aps` would overwrite the APNs dictionary.
pub fn reserved_data_key(key: &str) -> bool {
    matches!(key, "from" | "message_type" | "aps") || key.starts_with("google.") || key.starts_with("gcm.")
}

/// FcmOptions.analytics_label: "^[a-zA-Z0-9-_.~%]{1,50}$".
fn analytics_label_ok(label: &str) -> bool {
    (1..=50).contains(&label.len())
        && label.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'%'))
}

/// An image the device downloads itself: an absolute http(s) URL.
fn image_ok(image: &str) -> bool {
    image.contains("{{")
        || image
            .parse::<http::Uri>()
            .is_ok_and(|u| matches!(u.scheme_str(), Some("https" | "http")) && u.host().is_some_and(|h| !h.is_empty()))
}

/// Checks the notification against its kind; the error names the field.
pub fn validate(kind: Kind, n: &Notification) -> Result<(), String> {
    common(kind, n)?;
    match kind {
        Kind::Alert => {
            let has = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.trim().is_empty());
            if !has(&n.title) && !has(&n.body) {
                return Err("`notification` needs a `title` or a `body`".into());
            }
            Ok(())
        }
        Kind::Background | Kind::Data => silent(kind, n),
        Kind::LiveActivity => live_activity(n),
    }
}

fn common(kind: Kind, n: &Notification) -> Result<(), String> {
    if let Some(key) = n.data.keys().find(|k| reserved_data_key(k)) {
        return Err(format!(
            "`notification.data.{key}` is a reserved key (FCM refuses `from`, `message_type`, `google.*` and `gcm.*`; `aps` is APNs' own)"
        ));
    }
    if let Some(push_type) = n.apns.get("push_type").and_then(Value::as_str)
        && kind != Kind::Alert
        && push_type != kind.apns_push_type()
    {
        return Err(format!(
            "`notification.apns.push_type` is {push_type:?} but a {} push is sent as {:?}; leave it out",
            kind.as_str(),
            kind.apns_push_type()
        ));
    }
    if n.live_activity.is_some() && kind != Kind::LiveActivity {
        return Err(format!("`notification.live_activity` is for `kind: live_activity`, not {}", kind.as_str()));
    }
    if let Some(image) = &n.image
        && !image_ok(image)
    {
        return Err(format!("`notification.image` must be an http(s) URL, got {image:?}"));
    }
    if n.image.is_some() && n.mutable_content == Some(false) {
        return Err("`notification.mutable_content`: an `image` is shown by the app's service extension, which needs mutable content".into());
    }
    if let Some(score) = n.relevance_score
        && !(0.0..=1.0).contains(&score)
    {
        return Err(format!("`notification.relevance_score` is a number from 0 to 1, got {score}"));
    }
    if let Some(label) = &n.analytics_label
        && !analytics_label_ok(label)
    {
        return Err(format!(
            "`notification.analytics_label` must match ^[a-zA-Z0-9-_.~%]{{1,50}}$ (FCM's rule), got {label:?}"
        ));
    }
    Ok(())
}

/// The fields of a visible alert, which a background or data push must not
/// carry (Apple: "the aps dictionary must not contain any keys that would
/// trigger user interactions").
fn alert_fields(n: &Notification) -> Option<&'static str> {
    [
        ("title", n.title.is_some()),
        ("body", n.body.is_some()),
        ("sound", n.sound.is_some()),
        ("badge", n.badge.is_some()),
        ("image", n.image.is_some()),
        ("mutable_content", n.mutable_content.is_some()),
        ("interruption_level", n.interruption_level.is_some()),
        ("relevance_score", n.relevance_score.is_some()),
        ("thread_id", n.thread_id.is_some()),
    ]
    .into_iter()
    .find_map(|(field, set)| set.then_some(field))
}

fn silent(kind: Kind, n: &Notification) -> Result<(), String> {
    if let Some(field) = alert_fields(n) {
        return Err(format!(
            "`notification.{field}`: a {} push shows nothing, so it carries no title, body, sound, badge or other alert field; use `kind: alert`",
            kind.as_str()
        ));
    }
    if kind == Kind::Background && n.priority == Some(Priority::High) {
        return Err("`notification.priority`: a background push is sent at normal priority (APNs requires 5, FCM NORMAL); leave it out".into());
    }
    if kind == Kind::Data && n.data.is_empty() {
        return Err("`notification.data` must not be empty for `kind: data`".into());
    }
    Ok(())
}

fn live_activity(n: &Notification) -> Result<(), String> {
    let missing = |field: &str| format!("`notification.live_activity.{field}` is required for `kind: live_activity`");
    let Some(la) = &n.live_activity else {
        return Err(
            "`notification.live_activity` is required for `kind: live_activity` (event, timestamp, content_state)"
                .into(),
        );
    };
    let event = la.event.ok_or_else(|| missing("event"))?;
    la.timestamp.ok_or_else(|| missing("timestamp"))?;
    la.content_state.as_ref().ok_or_else(|| missing("content_state"))?;
    for (field, set) in [
        ("badge", n.badge.is_some()),
        ("image", n.image.is_some()),
        ("mutable_content", n.mutable_content.is_some()),
        ("interruption_level", n.interruption_level.is_some()),
        ("thread_id", n.thread_id.is_some()),
    ] {
        if set {
            return Err(format!("`notification.{field}` is not part of a Live Activity push"));
        }
    }
    if event == LiveActivityEvent::Start {
        if la.attributes_type.as_deref().is_none_or(|t| t.trim().is_empty()) {
            return Err(format!("{} (the ActivityAttributes type) for `event: start`", missing("attributes_type")));
        }
        la.attributes.as_ref().ok_or_else(|| format!("{} for `event: start`", missing("attributes")))?;
        if n.title.is_none() && n.body.is_none() {
            return Err("`notification.title` or `body`: push-to-start (`event: start`) shows an alert".into());
        }
    } else if la.attributes_type.is_some() || la.attributes.is_some() {
        return Err("`notification.live_activity.attributes` and `attributes_type` are for `event: start`".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::batch::{Encoding, ReadError, discover};

    /// The header check's answer, through the reader as send-batch meets it.
    async fn refusal(header: Value) -> String {
        match discover(header.to_string().as_bytes(), Encoding::Jsonl).await {
            Err(ReadError::Header(message)) => message,
            other => panic!("{header} was not refused: {:?}", other.map(|l| l.header)),
        }
    }

    async fn accepted(header: Value) {
        discover(header.to_string().as_bytes(), Encoding::Jsonl).await.unwrap();
    }

    fn la(fields: Value) -> Value {
        let mut la = json!({"event": "update", "timestamp": 1_700_000_000, "content_state": {"s": "1-0"}});
        for (k, v) in fields.as_object().unwrap() {
            if v.is_null() {
                la.as_object_mut().unwrap().remove(k);
            } else {
                la[k] = v.clone();
            }
        }
        json!({"campaign": "c", "kind": "live_activity", "notification": {"live_activity": la}})
    }

    #[tokio::test]
    async fn every_kind_has_a_valid_form() {
        accepted(json!({"campaign": "c", "notification": {"body": "b"}})).await;
        accepted(json!({"campaign": "c", "kind": "background", "notification": {}})).await;
        accepted(json!({"campaign": "c", "kind": "data", "notification": {"data": {"k": "v"}, "priority": "high"}}))
            .await;
        accepted(la(json!({}))).await;
        accepted(la(json!({"event": "end", "dismissal_date": 1_700_003_600, "stale_date": 1}))).await;
        let mut start = la(json!({"event": "start", "attributes_type": "Match", "attributes": {"home": "A"}}));
        start["notification"]["title"] = json!("Kick-off");
        accepted(start).await;
        accepted(json!({"campaign": "c", "notification": {"title": "t", "image": "https://cdn.example/{{id}}.png",
            "interruption_level": "critical", "relevance_score": 1, "thread_id": "x", "analytics_label": "a.b~c%20",
            "mutable_content": true}}))
        .await;
    }

    #[tokio::test]
    async fn each_refusal_names_its_field() {
        let cases = [
            (
                json!({"campaign": "c", "kind": "silent", "notification": {"body": "b"}}),
                "`kind`: unknown variant `silent`",
            ),
            (la(json!({"content_state": null})), "`notification.live_activity.content_state` is required"),
            (la(json!({"timestamp": null})), "`notification.live_activity.timestamp` is required"),
            (la(json!({"event": null})), "`notification.live_activity.event` is required"),
            (la(json!({"timestamp": "soon"})), "`notification.live_activity.timestamp`: invalid type"),
            (la(json!({"event": "begin"})), "`notification.live_activity.event`: unknown variant `begin`"),
            (la(json!({"contentstate": {}})), "unknown field `contentstate`"),
            (la(json!({"event": "start"})), "`notification.live_activity.attributes_type` is required"),
            (la(json!({"attributes": {}})), "`attributes_type` are for `event: start`"),
            (
                la(json!({"event": "start", "attributes_type": "M", "attributes": {}})),
                "push-to-start (`event: start`) shows an alert",
            ),
            (
                json!({"campaign": "c", "notification": {"body": "b", "image": "https://i.example/a.png", "mutable_content": false}}),
                "`notification.mutable_content`",
            ),
            (
                json!({"campaign": "c", "kind": "live_activity", "notification": {"body": "b"}}),
                "`notification.live_activity` is required",
            ),
            (
                json!({"campaign": "c", "kind": "background", "notification": {"title": "t"}}),
                "`notification.title`: a background push shows nothing",
            ),
            (json!({"campaign": "c", "kind": "background", "notification": {"badge": 1}}), "`notification.badge`"),
            (
                json!({"campaign": "c", "kind": "background", "notification": {"priority": "high"}}),
                "`notification.priority`",
            ),
            (
                json!({"campaign": "c", "kind": "data", "notification": {"body": "b", "data": {"k": "v"}}}),
                "`notification.body`: a data push",
            ),
            (json!({"campaign": "c", "kind": "data", "notification": {}}), "`notification.data` must not be empty"),
            (
                json!({"campaign": "c", "notification": {"body": "b", "data": {"gcm.n.e": "1"}}}),
                "`notification.data.gcm.n.e` is a reserved key",
            ),
            (
                json!({"campaign": "c", "kind": "data", "notification": {"data": {"from": "me"}}}),
                "`notification.data.from`",
            ),
            (json!({"campaign": "c", "notification": {"body": "b", "data": {"aps": {}}}}), "`notification.data.aps`"),
            (
                json!({"campaign": "c", "notification": {"body": "b", "image": "cdn/i.png"}}),
                "`notification.image` must be an http(s) URL",
            ),
            (
                json!({"campaign": "c", "notification": {"body": "b", "relevance_score": 1.5}}),
                "`notification.relevance_score`",
            ),
            (
                json!({"campaign": "c", "notification": {"body": "b", "analytics_label": "no spaces"}}),
                "`notification.analytics_label`",
            ),
            (
                json!({"campaign": "c", "notification": {"body": "b", "interruption_level": "urgent"}}),
                "`notification.interruption_level`: unknown variant",
            ),
            (
                json!({"campaign": "c", "kind": "background", "notification": {"apns": {"push_type": "alert"}}}),
                "`notification.apns.push_type`",
            ),
            (
                json!({"campaign": "c", "notification": {"body": "b", "live_activity": {}}}),
                "`notification.live_activity` is for `kind: live_activity`",
            ),
            (json!({"campaign": "c", "notification": {}}), "`notification` needs a `title` or a `body`"),
        ];
        for (header, needle) in cases {
            let message = refusal(header.clone()).await;
            assert!(message.contains(needle), "{header}\n  said: {message}\n  wanted: {needle}");
        }
    }
}
