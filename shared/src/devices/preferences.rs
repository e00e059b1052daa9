//! A user's push preferences (issue 17), as the devices API writes them into
//! the user's item and send-batch reads them: `push_enabled` (BOOL),
//! `muted_categories` (SS, absent when empty: DynamoDB refuses an empty set),
//! `time_zone` (S, an IANA name), `locale` (S, BCP 47), `quiet_hours` (M of
//! `start` and `end`, S, `HH:MM` local time). The API validates; this module
//! only moves a validated document in and out of the item.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::dynamo::{Item, s};

/// Every attribute a preferences document is stored in.
pub const ATTRIBUTES: [&str; 5] = ["push_enabled", "muted_categories", "time_zone", "locale", "quiet_hours"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preferences {
    /// `None`: not set (send-batch takes it as true).
    pub push_enabled: Option<bool>,
    pub muted_categories: BTreeSet<String>,
    pub time_zone: Option<String>,
    pub locale: Option<String>,
    pub quiet_hours: Option<QuietHoursText>,
}

/// Hours without pushes, in the user's time zone, as the API takes and
/// stores them (`HH:MM`); `start` after `end` runs over midnight.
/// send-batch reads them as `QuietHours`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuietHoursText {
    pub start: String,
    pub end: String,
}

impl Preferences {
    /// The attributes to set, each with its stored value; every other
    /// attribute of [`ATTRIBUTES`] is to be removed (a PUT replaces).
    pub fn to_attributes(&self) -> Vec<(&'static str, AttributeValue)> {
        let mut out = Vec::new();
        if let Some(enabled) = self.push_enabled {
            out.push(("push_enabled", AttributeValue::Bool(enabled)));
        }
        if !self.muted_categories.is_empty() {
            out.push(("muted_categories", AttributeValue::Ss(self.muted_categories.iter().cloned().collect())));
        }
        if let Some(zone) = &self.time_zone {
            out.push(("time_zone", s(zone)));
        }
        if let Some(locale) = &self.locale {
            out.push(("locale", s(locale)));
        }
        if let Some(q) = &self.quiet_hours {
            let map = [("start".to_owned(), s(&q.start)), ("end".to_owned(), s(&q.end))].into_iter().collect();
            out.push(("quiet_hours", AttributeValue::M(map)));
        }
        out
    }

    /// The document stored in `item`; an attribute of the wrong type is an
    /// error naming it, never a default.
    pub fn from_item(item: &Item) -> Result<Self, String> {
        let text = |name: &str| -> Result<Option<String>, String> {
            item.get(name).map(|v| v.as_s().cloned().map_err(|_| format!("{name} is not a string"))).transpose()
        };
        let push_enabled = item
            .get("push_enabled")
            .map(|v| v.as_bool().copied().map_err(|_| "push_enabled is not a boolean".to_owned()))
            .transpose()?;
        let muted_categories = match item.get("muted_categories") {
            None => BTreeSet::new(),
            Some(AttributeValue::Ss(set)) => set.iter().cloned().collect(),
            Some(_) => return Err("muted_categories is not a string set".into()),
        };
        let quiet_hours = match item.get("quiet_hours") {
            None => None,
            Some(AttributeValue::M(map)) => {
                let part = |name: &str| {
                    map.get(name).and_then(|v| v.as_s().ok()).cloned().ok_or(format!("quiet_hours.{name} is missing"))
                };
                Some(QuietHoursText { start: part("start")?, end: part("end")? })
            }
            Some(_) => return Err("quiet_hours is not a map".into()),
        };
        Ok(Self { push_enabled, muted_categories, time_zone: text("time_zone")?, locale: text("locale")?, quiet_hours })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_round_trips_through_its_attributes() {
        let full = Preferences {
            push_enabled: Some(false),
            muted_categories: ["promo".to_owned(), "news".to_owned()].into(),
            time_zone: Some("America/Sao_Paulo".into()),
            locale: Some("pt-BR".into()),
            quiet_hours: Some(QuietHoursText { start: "22:00".into(), end: "07:00".into() }),
        };
        let item: Item = full.to_attributes().into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        assert_eq!(item.len(), ATTRIBUTES.len());
        assert!(matches!(&item["muted_categories"], AttributeValue::Ss(s) if s.len() == 2));
        assert_eq!(Preferences::from_item(&item).unwrap(), full);

        // Nothing set is no attribute at all: in particular no empty set.
        assert!(Preferences::default().to_attributes().is_empty());
        assert_eq!(Preferences::from_item(&Item::new()).unwrap(), Preferences::default());
    }

    #[test]
    fn a_wrongly_typed_attribute_is_named() {
        for (name, value, needle) in [
            ("push_enabled", s("yes"), "push_enabled"),
            ("muted_categories", AttributeValue::L(vec![]), "muted_categories"),
            ("time_zone", AttributeValue::Bool(true), "time_zone"),
            ("quiet_hours", AttributeValue::M([("start".to_owned(), s("22:00"))].into()), "quiet_hours.end"),
        ] {
            let item = Item::from([(name.to_owned(), value)]);
            let e = Preferences::from_item(&item).unwrap_err();
            assert!(e.contains(needle), "{name}: {e}");
        }
    }
}
