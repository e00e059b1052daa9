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
        if self.valid_users != self.targeted_users + self.opted_out + self.no_devices {
            broken.push(format!(
                "valid_users {} != targeted {} + opted_out {} + no_devices {}",
                self.valid_users, self.targeted_users, self.opted_out, self.no_devices
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
}
