//! Frequency caps: how many pushes a user may get in their local day, in
//! total and per category. Counts live in DynamoDB and are taken with
//! conditional updates before a user is sent, so two jobs running at once
//! never push anyone past a cap (the second's update fails its condition).
//! A push that then fails still counts: the count is of pushes attempted.
//!
//! Each take is marked with the entry it is for (job and byte offset), and
//! the mark is kept with the count: a batch sent again after a crash finds
//! its own mark and is admitted again without counting twice, so a crash
//! never turns a sent user into a capped one.

use std::collections::BTreeMap;
use std::future::Future;

mod dynamo;
mod memory;

pub use dynamo::DynamoCaps;
pub use memory::{DayCount, MemoryCaps};

use crate::dynamo::DynamoError;

/// The caps that apply to one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Pushes a user may get in a local day, whatever the category.
    pub per_day: Option<u32>,
    /// The file's category, and how many of its pushes a day.
    pub category: Option<(String, u32)>,
}

impl Limits {
    /// The deployment's caps (`CAP_PER_DAY`, `CATEGORY_CAPS`), with the
    /// header's `category_cap_per_day` over the category's.
    pub fn of(
        per_day: Option<u32>,
        by_category: &BTreeMap<String, u32>,
        category: Option<&str>,
        header: Option<u32>,
    ) -> Self {
        let category = category.and_then(|c| header.or_else(|| by_category.get(c).copied()).map(|n| (c.to_owned(), n)));
        Limits { per_day, category }
    }

    pub fn any(&self) -> bool {
        self.per_day.is_some() || self.category.is_some()
    }
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct CapError(#[from] pub DynamoError);

/// What a take is for: one entry of one job's file. The same entry taken
/// again (a re-sent batch) is admitted without counting again.
pub fn mark(job_id: &str, entry_offset: u64) -> String {
    format!("{job_id}@{entry_offset}")
}

pub trait CapTake: Send + Sync {
    /// Counts one push for `user_id` on their local `day` (`YYYY-MM-DD`),
    /// if it stays within `limits`; false (and nothing counted) when a cap
    /// is reached. A `mark` already counted is admitted as it was.
    fn take(
        &self,
        user_id: &str,
        day: &str,
        limits: &Limits,
        mark: &str,
    ) -> impl Future<Output = Result<bool, CapError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_overrides_the_category_cap() {
        let config = BTreeMap::from([("promo".to_owned(), 2)]);
        assert_eq!(Limits::of(None, &config, Some("promo"), None).category, Some(("promo".into(), 2)));
        assert_eq!(Limits::of(None, &config, Some("promo"), Some(1)).category, Some(("promo".into(), 1)));
        assert_eq!(Limits::of(Some(3), &config, Some("news"), None), Limits { per_day: Some(3), category: None });
        assert!(!Limits::of(None, &config, None, None).any());
    }
}
