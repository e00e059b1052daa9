//! The streamed reading against the `Value` reading: same user or same
//! reason for every entry, and syntax errors still syntax errors.

use proptest::prelude::*;
use serde_json::json;

use super::super::model::{entry_from_fields, entry_from_value};
use super::*;

/// The streamed reading and the `Value` reading agree on every entry,
/// whatever its shape: same user, or same reason.
fn agree(text: &str) {
    let value: Value = serde_json::from_str(text).unwrap();
    let streamed: EntryItem = serde_json::from_str(text).unwrap();
    assert_eq!(entry_from_fields(streamed), entry_from_value(value), "{text}");
}

const IOS: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn agrees_with_the_value_reading_on_every_shape() {
    let ios = json!({"platform": "ios", "token": IOS}).to_string();
    for text in [
        r#""u-1""#.to_owned(),
        r#""  ""#.to_owned(),
        "42".into(),
        "null".into(),
        "true".into(),
        "[1, {\"user_id\": \"u\"}]".into(),
        r#"{"user_id": "u", "vars": {"name": "Ann", "n": [1, 2.5e3]}, "x": {"y": null}}"#.into(),
        r#"{"user_id": 12345678901234567890}"#.into(),
        r#"{"user_id": -3, "vars": null, "devices": null}"#.into(),
        r#"{"user_id": "", "devices": []}"#.into(),
        r#"{"user_id": "u", "vars": 3}"#.into(),
        r#"{"user_id": "u", "devices": {"platform": "ios"}}"#.into(),
        r#"{"user_id": "u", "devices": "ios"}"#.into(),
        format!(r#"{{"user_id": "u", "devices": [{ios}, 7, null, "x"]}}"#),
        format!(r#"{{"user_id": "u", "devices": [{ios}, {{"platform": "wp", "token": "x"}}]}}"#),
        r#"{"user_id": "u", "devices": [{"platform": 3, "token": "x"}]}"#.into(),
        r#"{"user_id": "u", "devices": [{"platform": 1.5}, {"platform": true}]}"#.into(),
        r#"{"user_id": "u", "devices": [{"platform": [1, "ios"]}, {"platform": {"a": null}}]}"#.into(),
        r#"{"user_id": "u", "devices": [{"platform": null}, {"token": "x"}]}"#.into(),
        r#"{"user_id": "u", "devices": [{"platform": "Webb"}]}"#.into(),
        format!(r#"{{"user_id": "u", "devices": [{{"platform": "IOS", "token": "{IOS}"}}]}}"#),
        r#"{"user_id": "u", "devices": [{"platform": "ios", "token": "zz"}]}"#.into(),
        format!(r#"{{"user_id": "u", "devices": [{{"platform": "ios", "token": "{IOS}", "app": "com.x.y"}}]}}"#),
        format!(r#"{{"user_id": "u", "devices": [{{"platform": "ios", "token": "{IOS}", "app": 5}}]}}"#),
        r#"{"user_id": "u", "devices": [{"platform": "web", "subscription": {"endpoint": "x"}}]}"#.into(),
        // A repeated key keeps its last value, as in a `Value` map.
        r#"{"user_id": "a", "user_id": "b", "devices": [1], "devices": null}"#.into(),
        format!(r#"{{"user_id": "u", "devices": [{{"token": "zz", "platform": "ios", "token": "{IOS}"}}]}}"#),
        // Escaped keys are the same keys.
        r#"{"user\u005fid": "u", "v\u0061rs": {"a": 1}}"#.into(),
    ] {
        agree(&text);
    }
}

#[test]
fn syntax_errors_stay_syntax_errors() {
    for text in [r#"{"user_id": "u",}"#, r#"{"user_id": "u", "x": [1,]}"#, r#"{"user_id": 1e999}"#, r#"["a" "b"]"#] {
        assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
        assert!(serde_json::from_str::<EntryItem>(text).is_err(), "{text}");
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(vec!["u", "", " ", "ios", "android", "web", IOS]).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        let keys = prop::sample::select(vec!["user_id", "vars", "devices", "platform", "token", "app", "x"]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((keys, inner), 0..5)
                .prop_map(|pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

proptest! {
    #[test]
    fn agrees_with_the_value_reading_on_any_json(value in json_value()) {
        agree(&value.to_string());
    }
}
