//! A job's counters and the accounting identities of Contract 3.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::batch::Platform;

/// What happened to the devices of one platform.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCounters {
    pub attempted: u64,
    pub delivered: u64,
    pub pruned: u64,
    pub failed: u64,
    /// Extra attempts after retryable answers (not devices: requests).
    #[serde(default)]
    pub retries: u64,
}

/// Every term of the accounting identities, for one job.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub entries: u64,
    pub valid_users: u64,
    pub invalid_entries: u64,
    #[serde(default)]
    pub invalid_by_reason: BTreeMap<String, u64>,
    pub targeted_users: u64,
    pub opted_out: u64,
    #[serde(default)]
    pub opted_out_by_reason: BTreeMap<String, u64>,
    pub no_devices: u64,
    /// Users skipped because they reached a frequency cap for their day.
    #[serde(default)]
    pub capped: u64,
    /// Users inside their quiet hours, skipped (`quiet_hours: skip`).
    #[serde(default)]
    pub quiet_hours: u64,
    /// Users waiting for a later part of the job (their local time, or the
    /// end of their quiet hours); a part that sends them moves them on.
    #[serde(default)]
    pub deferred: u64,
    #[serde(default)]
    pub devices: BTreeMap<Platform, DeviceCounters>,
    pub batches: u64,
}

impl Counters {
    pub fn invalid(&mut self, reason: &str) {
        self.entries += 1;
        self.invalid_entries += 1;
        *self.invalid_by_reason.entry(reason.to_owned()).or_default() += 1;
    }

    pub fn opted_out(&mut self, reason: &str) {
        self.opted_out += 1;
        *self.opted_out_by_reason.entry(reason.to_owned()).or_default() += 1;
    }

    pub fn platform(&mut self, platform: Platform) -> &mut DeviceCounters {
        self.devices.entry(platform).or_default()
    }

    pub fn total_devices(&self) -> DeviceCounters {
        self.devices.values().fold(DeviceCounters::default(), |mut acc, d| {
            acc.attempted += d.attempted;
            acc.delivered += d.delivered;
            acc.pruned += d.pruned;
            acc.failed += d.failed;
            acc.retries += d.retries;
            acc
        })
    }

    /// A deferred part finished: its users were counted as entries (and as
    /// deferred) by the link that deferred them, so only what became of
    /// them is added, and they leave `deferred`.
    pub fn absorb_part(&mut self, part: &Counters) {
        let mut moved = part.clone();
        moved.entries = 0;
        moved.valid_users = 0;
        moved.invalid_entries = 0;
        moved.invalid_by_reason.clear();
        self.add(&moved);
        self.deferred = self.deferred.saturating_sub(part.valid_users);
    }

    /// Adds another set of counters (one batch) into this one.
    pub fn add(&mut self, other: &Counters) {
        self.entries += other.entries;
        self.valid_users += other.valid_users;
        self.invalid_entries += other.invalid_entries;
        for (k, v) in &other.invalid_by_reason {
            *self.invalid_by_reason.entry(k.clone()).or_default() += v;
        }
        self.targeted_users += other.targeted_users;
        self.opted_out += other.opted_out;
        for (k, v) in &other.opted_out_by_reason {
            *self.opted_out_by_reason.entry(k.clone()).or_default() += v;
        }
        self.no_devices += other.no_devices;
        self.capped += other.capped;
        self.quiet_hours += other.quiet_hours;
        self.deferred += other.deferred;
        for (p, d) in &other.devices {
            let mine = self.platform(*p);
            mine.attempted += d.attempted;
            mine.delivered += d.delivered;
            mine.pruned += d.pruned;
            mine.failed += d.failed;
            mine.retries += d.retries;
        }
        self.batches += other.batches;
    }

    /// The identities of Contract 3; each violation is named.
    pub fn check_identities(&self) -> Result<(), Vec<String>> {
        let mut broken = Vec::new();
        if self.entries != self.valid_users + self.invalid_entries {
            broken.push(format!(
                "entries {} != valid_users {} + invalid_entries {}",
                self.entries, self.valid_users, self.invalid_entries
            ));
        }
        let by_reason: u64 = self.invalid_by_reason.values().sum();
        if by_reason != self.invalid_entries {
            broken.push(format!("invalid by reason {by_reason} != invalid_entries {}", self.invalid_entries));
        }
        let accounted =
            self.targeted_users + self.opted_out + self.no_devices + self.capped + self.quiet_hours + self.deferred;
        if self.valid_users != accounted {
            broken.push(format!(
                "valid_users {} != targeted {} + opted_out {} + no_devices {} + capped {} + quiet_hours {} + deferred {}",
                self.valid_users,
                self.targeted_users,
                self.opted_out,
                self.no_devices,
                self.capped,
                self.quiet_hours,
                self.deferred
            ));
        }
        for (p, d) in &self.devices {
            if d.attempted != d.delivered + d.pruned + d.failed {
                broken.push(format!(
                    "{}: attempted {} != delivered {} + pruned {} + failed {}",
                    p.as_str(),
                    d.attempted,
                    d.delivered,
                    d.pruned,
                    d.failed
                ));
            }
        }
        if broken.is_empty() { Ok(()) } else { Err(broken) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_name_what_is_broken() {
        let mut c = Counters::default();
        c.invalid("missing_user_id");
        c.entries += 2;
        c.valid_users += 2;
        c.targeted_users += 1;
        c.opted_out("push_disabled");
        let ios = c.platform(Platform::Ios);
        ios.attempted = 3;
        ios.delivered = 2;
        ios.pruned = 1;
        c.check_identities().unwrap();
        c.platform(Platform::Android).attempted = 1;
        let broken = c.check_identities().unwrap_err();
        assert_eq!(broken.len(), 1);
        assert!(broken[0].starts_with("android"), "{broken:?}");
    }

    #[test]
    fn add_sums_everything() {
        let mut a = Counters::default();
        a.invalid("x");
        a.platform(Platform::Ios).delivered = 2;
        let mut b = a.clone();
        b.add(&a);
        assert_eq!(b.entries, 2);
        assert_eq!(b.invalid_by_reason["x"], 2);
        assert_eq!(b.devices[&Platform::Ios].delivered, 4);
    }

    #[test]
    fn a_part_moves_its_users_out_of_deferred() {
        let mut job = Counters { entries: 10, valid_users: 10, targeted_users: 6, deferred: 4, ..Counters::default() };
        job.check_identities().unwrap();
        let mut part = Counters { entries: 4, valid_users: 4, targeted_users: 3, capped: 1, ..Counters::default() };
        part.platform(Platform::Ios).attempted = 3;
        part.platform(Platform::Ios).delivered = 3;
        job.absorb_part(&part);
        assert_eq!((job.entries, job.valid_users, job.deferred, job.targeted_users, job.capped), (10, 10, 0, 9, 1));
        job.check_identities().unwrap();
    }
}
