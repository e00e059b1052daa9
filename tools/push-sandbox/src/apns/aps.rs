//! The `aps` dictionary. Key types follow Apple's "Generating a remote notification"
//! (the aps dictionary keys table); the background rules "Pushing background updates
//! to your App"; the liveactivity rules "Starting and updating Live Activities with
//! ActivityKit push notifications". Apple answers none of these with a reason of its
//! own (the device drops the notification), so they all map to `InvalidPayload`.

use serde_json::{Map, Value};

use super::push_type::PushType;

type Aps = Map<String, Value>;

/// Which documented rule a payload breaks; logged, and asserted by the tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("aps.{key} must be {expected}")]
    WrongType { key: &'static str, expected: &'static str },
    #[error("a background notification needs aps.content-available = 1")]
    NotContentAvailable,
    #[error("a background notification must not carry aps.{0} (it would interact with the user)")]
    UserInteraction(&'static str),
    #[error("a Live Activity notification needs aps.{0}")]
    LiveActivityMissing(&'static str),
}

fn wrong(key: &'static str, expected: &'static str) -> Violation {
    Violation::WrongType { key, expected }
}

pub fn check(aps: &Aps, push_type: Option<PushType>) -> Result<(), Violation> {
    check_common_keys(aps)?;
    match push_type {
        Some(PushType::Background) => check_background(aps),
        Some(PushType::LiveActivity) => check_live_activity(aps),
        _ => Ok(()),
    }
}

const INTERRUPTION_LEVELS: &[&str] = &["passive", "active", "time-sensitive", "critical"];
const ALERT_STRINGS: &[&str] =
    &["title", "subtitle", "body", "launch-image", "title-loc-key", "subtitle-loc-key", "loc-key"];
const ALERT_STRING_ARRAYS: &[&str] = &["title-loc-args", "subtitle-loc-args", "loc-args"];

/// Types of the keys every push type shares.
fn check_common_keys(aps: &Aps) -> Result<(), Violation> {
    for key in ["thread-id", "category", "target-content-id", "filter-criteria"] {
        if aps.get(key).is_some_and(|v| !v.is_string()) {
            return Err(wrong(key, "a string"));
        }
    }
    if let Some(alert) = aps.get("alert") {
        check_alert(alert)?;
    }
    if aps.get("badge").is_some_and(|v| v.as_u64().is_none()) {
        return Err(wrong("badge", "a non-negative integer"));
    }
    if let Some(sound) = aps.get("sound") {
        check_sound(sound)?;
    }
    // Apple: "the value 1" sets either flag; 0 is how senders leave it off.
    for key in ["content-available", "mutable-content"] {
        if aps.get(key).is_some_and(|v| !matches!(v.as_u64(), Some(0 | 1))) {
            return Err(wrong(key, "0 or 1"));
        }
    }
    if aps.get("interruption-level").is_some_and(|v| !v.as_str().is_some_and(|s| INTERRUPTION_LEVELS.contains(&s))) {
        return Err(wrong("interruption-level", "passive, active, time-sensitive or critical"));
    }
    // Apple: "a number between 0 and 1".
    if aps.get("relevance-score").is_some_and(|v| !v.as_f64().is_some_and(|f| (0.0..=1.0).contains(&f))) {
        return Err(wrong("relevance-score", "a number from 0 to 1"));
    }
    Ok(())
}

/// Alert and sound are each a string or a dictionary; the dictionary is returned
/// for its own checks.
fn string_or_dictionary<'v>(key: &'static str, v: &'v Value) -> Result<Option<&'v Map<String, Value>>, Violation> {
    match v {
        Value::String(_) => Ok(None),
        Value::Object(obj) => Ok(Some(obj)),
        _ => Err(wrong(key, "a string or a dictionary")),
    }
}

fn check_alert(alert: &Value) -> Result<(), Violation> {
    let Some(obj) = string_or_dictionary("alert", alert)? else {
        return Ok(());
    };
    if ALERT_STRINGS.iter().any(|k| obj.get(*k).is_some_and(|v| !v.is_string())) {
        return Err(wrong("alert", "a dictionary whose texts and keys are strings"));
    }
    let string_array = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    if ALERT_STRING_ARRAYS.iter().any(|k| obj.get(*k).is_some_and(|v| !string_array(v))) {
        return Err(wrong("alert", "a dictionary whose loc-args are arrays of strings"));
    }
    Ok(())
}

/// A sound name, or the critical-alert dictionary {critical, name, volume}.
fn check_sound(sound: &Value) -> Result<(), Violation> {
    let Some(obj) = string_or_dictionary("sound", sound)? else {
        return Ok(());
    };
    let critical_ok = obj.get("critical").is_none_or(|v| matches!(v.as_u64(), Some(0 | 1)));
    let name_ok = obj.get("name").is_none_or(Value::is_string);
    let volume_ok = obj.get("volume").is_none_or(|v| v.as_f64().is_some_and(|f| (0.0..=1.0).contains(&f)));
    if critical_ok && name_ok && volume_ok {
        Ok(())
    } else {
        Err(wrong("sound", "{critical: 0 or 1, name: string, volume: 0 to 1}"))
    }
}

/// Apple: "create a remote notification with an aps dictionary that includes only
/// the content-available key", and no alert, sound or badge.
fn check_background(aps: &Aps) -> Result<(), Violation> {
    if aps.get("content-available").and_then(Value::as_u64) != Some(1) {
        return Err(Violation::NotContentAvailable);
    }
    for key in ["alert", "sound", "badge"] {
        if aps.contains_key(key) {
            return Err(Violation::UserInteraction(key));
        }
    }
    Ok(())
}

/// The ActivityKit payload: `event` is start (push-to-start), update or end; every
/// event carries `timestamp` (seconds) and `content-state`; a start also names the
/// activity with `attributes-type` and `attributes`.
fn check_live_activity(aps: &Aps) -> Result<(), Violation> {
    let event = match aps.get("event") {
        None => return Err(Violation::LiveActivityMissing("event")),
        Some(v) => v.as_str().filter(|e| matches!(*e, "start" | "update" | "end")),
    };
    let Some(event) = event else {
        return Err(wrong("event", "start, update or end"));
    };
    let seconds = |v: &Value| v.as_u64().is_some();
    match aps.get("timestamp") {
        None => return Err(Violation::LiveActivityMissing("timestamp")),
        Some(v) if !seconds(v) => return Err(wrong("timestamp", "an integer of seconds since 1970")),
        Some(_) => {}
    }
    match aps.get("content-state") {
        None => return Err(Violation::LiveActivityMissing("content-state")),
        Some(v) if !v.is_object() => return Err(wrong("content-state", "a dictionary")),
        Some(_) => {}
    }
    if aps.get("dismissal-date").is_some_and(|v| !seconds(v)) {
        return Err(wrong("dismissal-date", "an integer of seconds since 1970"));
    }
    if aps.get("stale-date").is_some_and(|v| !seconds(v)) {
        return Err(wrong("stale-date", "an integer of seconds since 1970"));
    }
    if event == "start" {
        match aps.get("attributes-type") {
            None => return Err(Violation::LiveActivityMissing("attributes-type")),
            Some(v) if !v.is_string() => return Err(wrong("attributes-type", "a string")),
            Some(_) => {}
        }
        match aps.get("attributes") {
            None => return Err(Violation::LiveActivityMissing("attributes")),
            Some(v) if !v.is_object() => return Err(wrong("attributes", "a dictionary")),
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn aps(v: Value) -> Aps {
        v.as_object().cloned().expect("object")
    }

    fn run(push_type: Option<PushType>, v: Value) -> Result<(), Violation> {
        check(&aps(v), push_type)
    }

    #[test]
    fn rich_alerts_are_accepted() {
        let ok = json!({
            "alert": {"title": "t", "subtitle": "s", "body": "b", "loc-args": ["a"]},
            "sound": {"critical": 1, "name": "default", "volume": 0.5},
            "badge": 3, "thread-id": "chat-1", "category": "MSG", "mutable-content": 1,
            "interruption-level": "time-sensitive", "relevance-score": 0.75, "target-content-id": "x"
        });
        assert_eq!(run(Some(PushType::Alert), ok), Ok(()));
        for level in INTERRUPTION_LEVELS {
            assert_eq!(run(Some(PushType::Alert), json!({"alert": "a", "interruption-level": level})), Ok(()));
        }
        for score in [0.0, 1.0] {
            assert_eq!(run(None, json!({"relevance-score": score})), Ok(()));
        }
    }

    #[test]
    fn bad_alert_values_are_refused() {
        let cases = [
            (json!({"interruption-level": "urgent"}), "interruption-level"),
            (json!({"interruption-level": 1}), "interruption-level"),
            (json!({"relevance-score": 1.5}), "relevance-score"),
            (json!({"relevance-score": -0.1}), "relevance-score"),
            (json!({"relevance-score": "high"}), "relevance-score"),
            (json!({"mutable-content": 2}), "mutable-content"),
            (json!({"mutable-content": true}), "mutable-content"),
            (json!({"thread-id": 7}), "thread-id"),
            (json!({"badge": -1}), "badge"),
            (json!({"badge": "1"}), "badge"),
            (json!({"alert": 5}), "alert"),
            (json!({"alert": {"title": 5}}), "alert"),
            (json!({"alert": {"loc-args": [1]}}), "alert"),
            (json!({"sound": {"volume": 2}}), "sound"),
            (json!({"sound": 1}), "sound"),
        ];
        for (payload, key) in cases {
            let err = run(Some(PushType::Alert), payload.clone()).expect_err(&payload.to_string());
            assert!(matches!(err, Violation::WrongType { key: k, .. } if k == key), "{payload}: {err}");
        }
    }

    #[test]
    fn background_rules() {
        let bg = Some(PushType::Background);
        assert_eq!(run(bg, json!({"content-available": 1})), Ok(()));
        assert_eq!(run(bg, json!({})), Err(Violation::NotContentAvailable));
        assert_eq!(run(bg, json!({"content-available": 0})), Err(Violation::NotContentAvailable));
        for key in ["alert", "sound", "badge"] {
            let mut payload = json!({"content-available": 1});
            payload[key] = if key == "badge" { json!(1) } else { json!("x") };
            assert_eq!(run(bg, payload), Err(Violation::UserInteraction(key)), "{key}");
        }
        // The same keys are fine on an alert.
        assert_eq!(run(Some(PushType::Alert), json!({"content-available": 1, "alert": "a"})), Ok(()));
    }

    fn live(extra: Value) -> Value {
        let mut v = json!({"event": "update", "timestamp": 1_700_000_000, "content-state": {"score": "1-0"}});
        for (k, x) in extra.as_object().expect("object") {
            if x.is_null() {
                v.as_object_mut().expect("object").remove(k);
            } else {
                v[k] = x.clone();
            }
        }
        v
    }

    #[test]
    fn live_activity_rules() {
        let la = Some(PushType::LiveActivity);
        assert_eq!(run(la, live(json!({}))), Ok(()));
        assert_eq!(run(la, live(json!({"event": "end", "dismissal-date": 1_700_003_600}))), Ok(()));
        assert_eq!(run(la, live(json!({"stale-date": 1_700_000_900, "relevance-score": 0.5}))), Ok(()));
        let start = json!({"event": "start", "attributes-type": "Match", "attributes": {"home": "A"}});
        assert_eq!(run(la, live(start)), Ok(()));

        let missing = |extra: Value| run(la, live(extra));
        assert_eq!(missing(json!({"content-state": null})), Err(Violation::LiveActivityMissing("content-state")));
        assert_eq!(missing(json!({"timestamp": null})), Err(Violation::LiveActivityMissing("timestamp")));
        assert_eq!(missing(json!({"event": null})), Err(Violation::LiveActivityMissing("event")));
        assert_eq!(
            missing(json!({"event": "start"})),
            Err(Violation::LiveActivityMissing("attributes-type")),
            "push-to-start names its attributes"
        );
        for (extra, key) in [
            (json!({"event": "begin"}), "event"),
            (json!({"timestamp": 1.5}), "timestamp"),
            (json!({"timestamp": "1700000000"}), "timestamp"),
            (json!({"content-state": "x"}), "content-state"),
            (json!({"dismissal-date": "later"}), "dismissal-date"),
            (json!({"stale-date": -5}), "stale-date"),
        ] {
            let err = run(la, live(extra.clone())).expect_err(&extra.to_string());
            assert!(matches!(err, Violation::WrongType { key: k, .. } if k == key), "{extra}: {err}");
        }
    }
}
