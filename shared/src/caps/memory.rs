//! Cap counts in memory, with the same all-or-nothing take.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use super::{CapError, CapTake, Limits};

/// One user's pushes on one local day: in total, and per category.
#[derive(Default, Debug, Clone)]
pub struct DayCount {
    pub total: u32,
    pub by_category: HashMap<String, u32>,
    pub marks: HashSet<String>,
}

#[derive(Default)]
pub struct MemoryCaps {
    /// Keyed by (user, day).
    pub counts: Mutex<HashMap<(String, String), DayCount>>,
}

impl CapTake for MemoryCaps {
    async fn take(&self, user_id: &str, day: &str, limits: &Limits, mark: &str) -> Result<bool, CapError> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let DayCount { total, by_category, marks } = counts.entry((user_id.to_owned(), day.to_owned())).or_default();
        if marks.contains(mark) {
            return Ok(true);
        }
        if limits.per_day.is_some_and(|cap| *total >= cap) {
            return Ok(false);
        }
        if let Some((category, cap)) = &limits.category
            && by_category.get(category).copied().unwrap_or(0) >= *cap
        {
            return Ok(false);
        }
        *total += 1;
        marks.insert(mark.to_owned());
        if let Some((category, _)) = &limits.category {
            *by_category.entry(category.clone()).or_default() += 1;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cap_is_per_local_day_and_category() {
        let caps = MemoryCaps::default();
        let limits = Limits { per_day: Some(2), category: Some(("promo".into(), 1)) };
        assert!(caps.take("u", "2026-12-01", &limits, "a@1").await.unwrap());
        assert!(!caps.take("u", "2026-12-01", &limits, "b@1").await.unwrap(), "one promo a day");
        let news = Limits { per_day: Some(2), category: Some(("news".into(), 5)) };
        assert!(caps.take("u", "2026-12-01", &news, "c@1").await.unwrap());
        assert!(!caps.take("u", "2026-12-01", &news, "d@1").await.unwrap(), "two in all");
        assert!(caps.take("u", "2026-12-02", &limits, "e@1").await.unwrap(), "a new day");
    }

    #[tokio::test]
    async fn the_same_entry_taken_again_is_admitted_without_counting() {
        let caps = MemoryCaps::default();
        let one = Limits { per_day: Some(1), category: None };
        assert!(caps.take("u", "2026-12-01", &one, "job@7").await.unwrap());
        assert!(caps.take("u", "2026-12-01", &one, "job@7").await.unwrap(), "a re-sent batch");
        assert!(!caps.take("u", "2026-12-01", &one, "job@90").await.unwrap(), "the user again in the file");
        assert_eq!(caps.counts.lock().unwrap()[&("u".into(), "2026-12-01".into())].total, 1);
    }
}
