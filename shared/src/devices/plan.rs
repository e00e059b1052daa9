//! Which stored devices a registration replaces or evicts: pure, so both
//! adapters plan alike.

use chrono::{DateTime, Utc};

/// One stored device, as the planner sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub token: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Which stored devices a registration removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Positions holding the registered token (normally at most one).
    pub replaced: Vec<usize>,
    /// Positions evicted for the cap, least recently updated first.
    pub evicted: Vec<usize>,
}

impl Plan {
    pub fn removes(&self, index: usize) -> bool {
        self.replaced.contains(&index) || self.evicted.contains(&index)
    }
}

/// Plans registering `token` into `current` under `max_devices` (at least 1).
///
/// Entries without a readable `updated_at` count as the oldest, and ties keep
/// list order (entries are appended, so earlier is older).
pub fn plan(current: &[Slot], token: &str, max_devices: usize) -> Plan {
    let replaced: Vec<usize> =
        current.iter().enumerate().filter(|(_, s)| s.token.as_deref() == Some(token)).map(|(i, _)| i).collect();
    let remaining = current.len() - replaced.len();
    let excess = (remaining + 1).saturating_sub(max_devices.max(1));
    let mut candidates: Vec<usize> = (0..current.len()).filter(|i| !replaced.contains(i)).collect();
    candidates.sort_by_key(|&i| (current[i].updated_at, i));
    candidates.truncate(excess);
    Plan { replaced, evicted: candidates }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::fixtures::*;

    #[test]
    fn plan_appends_under_the_cap() {
        let p = plan(&[slot("a", Some(1))], "b", 3);
        assert_eq!(p, Plan { replaced: vec![], evicted: vec![] });
    }

    #[test]
    fn plan_replaces_the_same_token_without_evicting() {
        let p = plan(&[slot("a", Some(1)), slot("b", Some(2))], "a", 2);
        assert_eq!(p, Plan { replaced: vec![0], evicted: vec![] });
    }

    #[test]
    fn plan_evicts_the_least_recently_updated_and_unreadable_first() {
        let current = [slot("a", Some(5)), slot("b", None), slot("c", Some(1)), slot("d", Some(1))];
        assert_eq!(plan(&current, "e", 4).evicted, vec![1]);
        assert_eq!(plan(&current, "e", 2).evicted, vec![1, 2, 3]);
        // A list already over a lowered cap shrinks to it.
        assert_eq!(plan(&current, "e", 1).evicted.len(), 4);
    }
}
