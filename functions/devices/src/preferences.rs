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
/// Longest locale tag accepted (BCP 47 sets no limit; real tags are short).
pub const MAX_LOCALE_CHARS: usize = 64;

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
    match canonical_locale(&tag) {
        Some(canonical) => Ok(Some(canonical)),
        None => {
            Err(invalid("locale", format!("{tag:?} is not a BCP 47 language tag (like \"pt-BR\" or \"zh-Hant-TW\")")))
        }
    }
}

/// A BCP 47 tag's shape (RFC 5646's `langtag`: language, extended
/// languages, script, region, variants, extensions, private use), in its
/// conventional case (`pt-BR`, `zh-Hant-TW`); `None` when it has not that shape.
pub fn canonical_locale(tag: &str) -> Option<String> {
    if tag.is_empty() || tag.len() > MAX_LOCALE_CHARS {
        return None;
    }
    let subtags: Vec<&str> = tag.split('-').collect();
    if subtags.iter().any(|s| s.is_empty() || s.len() > 8 || !s.chars().all(|c| c.is_ascii_alphanumeric())) {
        return None;
    }
    let alpha = |s: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphabetic())
    };
    let digits = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_digit());
    let (language, rest) = subtags.split_first()?;
    if !alpha(language, 2..=3) && !alpha(language, 5..=8) {
        return None;
    }
    let mut out = vec![language.to_ascii_lowercase()];
    let mut i = 0;
    // Stage: 0 extlang, 1 script, 2 region, 3 variants, 4 extensions.
    let mut stage = if language.len() <= 3 { 0 } else { 1 };
    let mut extlangs = 0;
    while i < rest.len() {
        let s = rest[i];
        if stage == 0 && alpha(s, 3..=3) && extlangs < 3 {
            extlangs += 1;
            out.push(s.to_ascii_lowercase());
        } else if stage <= 1 && alpha(s, 4..=4) {
            stage = 2;
            out.push(format!("{}{}", s[..1].to_ascii_uppercase(), s[1..].to_ascii_lowercase()));
        } else if stage <= 2 && (alpha(s, 2..=2) || digits(s, 3)) {
            stage = 3;
            out.push(s.to_ascii_uppercase());
        } else if stage <= 3 && (s.len() >= 5 || (s.len() == 4 && s.as_bytes()[0].is_ascii_digit())) {
            stage = 3;
            out.push(s.to_ascii_lowercase());
        } else if s.len() == 1 {
            // An extension (a singleton and its subtags) or, after `x`,
            // private use to the end.
            let min = if s.eq_ignore_ascii_case("x") { 1 } else { 2 };
            let start = i;
            i += 1;
            while i < rest.len() && rest[i].len() >= min {
                i += 1;
            }
            if i == start + 1 {
                return None;
            }
            out.extend(rest[start..i].iter().map(|s| s.to_ascii_lowercase()));
            stage = 4;
            continue;
        } else {
            return None;
        }
        i += 1;
    }
    Some(out.join("-"))
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
    fn locales_are_checked_for_shape_and_cased_conventionally() {
        for (tag, canonical) in [
            ("pt-BR", "pt-BR"),
            ("pt-br", "pt-BR"),
            ("en", "en"),
            ("zh-Hant-TW", "zh-Hant-TW"),
            ("ZH-HANT-tw", "zh-Hant-TW"),
            ("es-419", "es-419"),
            ("sl-rozaj-biske", "sl-rozaj-biske"),
            ("de-CH-1901", "de-CH-1901"),
            ("zh-yue-HK", "zh-yue-HK"),
            ("en-US-u-ca-gregory", "en-US-u-ca-gregory"),
            ("en-x-twain", "en-x-twain"),
        ] {
            assert_eq!(canonical_locale(tag).as_deref(), Some(canonical), "{tag}");
        }
        for bad in [
            "",
            "pt_BR",
            "p",
            "portuguese-brazil-x",
            "en--US",
            "en-US-",
            "-en",
            "e1",
            "en-US-u",
            "en-x",
            "pt-BR!",
            "en-a-bb-x",
            "en-US-US",
            "toolongtag",
        ] {
            assert_eq!(canonical_locale(bad), None, "{bad}");
        }
    }

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
