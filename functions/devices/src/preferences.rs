//! The preferences document of `PUT`/`GET /users/{id}/preferences` (issue
//! 17): parsed and validated field by field, each refusal naming its field;
//! unknown fields are refused. A field left out (or `null`) is not set.

use std::collections::BTreeSet;
use std::str::FromStr;

use lambda_http::Body;
use lambda_http::http::HeaderMap;
use serde_json::{Map, Value, json};
use shared::devices::{Preferences, QuietHoursText};

use crate::body::json_object;
use crate::problem::ApiError;

/// Categories a user may mute at once.
pub const MAX_MUTED_CATEGORIES: usize = 100;
/// Longest category name.
pub const MAX_CATEGORY_CHARS: usize = 128;

/// Parses and validates a `PUT` body.
pub fn preferences_body(headers: &HeaderMap, body: &Body) -> Result<Preferences, ApiError> {
    let mut object = json_object(headers, body, "send a preferences object, {} to clear them")?;
    let preferences = Preferences {
        push_enabled: push_enabled(object.remove("push_enabled"))?,
        muted_categories: muted_categories(object.remove("muted_categories"))?,
        time_zone: time_zone(object.remove("time_zone"))?,
        locale: locale(object.remove("locale"))?,
        quiet_hours: quiet_hours(object.remove("quiet_hours"))?,
    };
    refuse_unknown(&object, "")?;
    Ok(preferences)
}

/// The document as the API shows it: only the fields that are set.
pub fn to_json(preferences: &Preferences) -> Value {
    let mut out = Map::new();
    if let Some(enabled) = preferences.push_enabled {
        out.insert("push_enabled".into(), json!(enabled));
    }
    if !preferences.muted_categories.is_empty() {
        out.insert("muted_categories".into(), json!(preferences.muted_categories));
    }
    if let Some(zone) = &preferences.time_zone {
        out.insert("time_zone".into(), json!(zone));
    }
    if let Some(locale) = &preferences.locale {
        out.insert("locale".into(), json!(locale));
    }
    if let Some(q) = &preferences.quiet_hours {
        out.insert("quiet_hours".into(), json!({"start": q.start, "end": q.end}));
    }
    Value::Object(out)
}

fn refuse_unknown(object: &Map<String, Value>, prefix: &str) -> Result<(), ApiError> {
    match object.keys().next() {
        Some(unknown) => Err(ApiError::UnknownField(format!("{prefix}{unknown}"))),
        None => Ok(()),
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ApiError {
    ApiError::InvalidField { field, reason: reason.into() }
}

/// A string field, or `None` when left out.
fn string(value: Option<Value>, field: &'static str) -> Result<Option<String>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(invalid(field, format!("must be a string, not {other}"))),
    }
}

fn push_enabled(value: Option<Value>) -> Result<Option<bool>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(other) => Err(invalid("push_enabled", format!("must be true or false, not {other}"))),
    }
}

fn muted_categories(value: Option<Value>) -> Result<BTreeSet<String>, ApiError> {
    const FIELD: &str = "muted_categories";
    let items = match value {
        None | Some(Value::Null) => return Ok(BTreeSet::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(invalid(FIELD, format!("must be a list of strings, not {other}"))),
    };
    if items.len() > MAX_MUTED_CATEGORIES {
        return Err(invalid(FIELD, format!("has {} categories; at most {MAX_MUTED_CATEGORIES}", items.len())));
    }
    let mut out = BTreeSet::new();
    for item in items {
        let Value::String(category) = item else {
            return Err(invalid(FIELD, format!("must hold only strings, not {item}")));
        };
        if category.is_empty() || category.trim() != category {
            return Err(invalid(FIELD, format!("{category:?}: a category is not empty and has no surrounding spaces")));
        }
        if category.chars().count() > MAX_CATEGORY_CHARS || category.chars().any(char::is_control) {
            return Err(invalid(
                FIELD,
                format!("a category is at most {MAX_CATEGORY_CHARS} characters, without control characters"),
            ));
        }
        if out.contains(&category) {
            return Err(invalid(FIELD, format!("lists {category:?} twice")));
        }
        out.insert(category);
    }
    Ok(out)
}

fn time_zone(value: Option<Value>) -> Result<Option<String>, ApiError> {
    let Some(zone) = string(value, "time_zone")? else { return Ok(None) };
    match chrono_tz::Tz::from_str(&zone) {
        Ok(tz) => Ok(Some(tz.name().to_owned())),
        Err(_) => Err(invalid("time_zone", format!("{zone:?} is not an IANA time zone (like \"America/Sao_Paulo\")"))),
    }
}

fn locale(value: Option<Value>) -> Result<Option<String>, ApiError> {
    let Some(tag) = string(value, "locale")? else { return Ok(None) };
    match shared::locale::canonical(&tag) {
        Some(canonical) => Ok(Some(canonical)),
        None => {
            Err(invalid("locale", format!("{tag:?} is not a BCP 47 language tag (like \"pt-BR\" or \"zh-Hant-TW\")")))
        }
    }
}

fn quiet_hours(value: Option<Value>) -> Result<Option<QuietHoursText>, ApiError> {
    let mut object = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(object)) => object,
        Some(other) => {
            return Err(invalid(
                "quiet_hours",
                format!("must be {{\"start\": \"HH:MM\", \"end\": \"HH:MM\"}}, not {other}"),
            ));
        }
    };
    let start = clock_time(object.remove("start"), "quiet_hours.start")?;
    let end = clock_time(object.remove("end"), "quiet_hours.end")?;
    refuse_unknown(&object, "quiet_hours.")?;
    if start == end {
        return Err(invalid(
            "quiet_hours",
            "start and end are equal: a quiet period of no time, or of all day, is not quiet hours",
        ));
    }
    Ok(Some(QuietHoursText { start, end }))
}

/// `HH:MM`, 24-hour, two digits each.
fn clock_time(value: Option<Value>, field: &'static str) -> Result<String, ApiError> {
    let Some(text) = string(value, field)? else { return Err(ApiError::MissingField(field)) };
    let valid = text.len() == 5
        && text.as_bytes()[2] == b':'
        && text[..2].parse::<u8>().is_ok_and(|h| h < 24 && text[..2].bytes().all(|b| b.is_ascii_digit()))
        && text[3..].parse::<u8>().is_ok_and(|m| m < 60 && text[3..].bytes().all(|b| b.is_ascii_digit()));
    if valid { Ok(text) } else { Err(invalid(field, format!("{text:?} is not a 24-hour time HH:MM (like \"22:00\")"))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times_are_two_digit_24_hour() {
        for good in ["00:00", "07:30", "23:59"] {
            assert_eq!(clock_time(Some(json!(good)), "f"), Ok(good.to_owned()));
        }
        for bad in ["24:00", "7:30", "07:60", "07-30", "+7:30", "0730", "07:3a", " 7:30"] {
            assert!(
                matches!(clock_time(Some(json!(bad)), "f"), Err(ApiError::InvalidField { field: "f", .. })),
                "{bad}"
            );
        }
        assert_eq!(clock_time(None, "f"), Err(ApiError::MissingField("f")));
    }
}
