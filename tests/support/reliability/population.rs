//! The seeded users a scenario sends to, the batch files it uploads, and the
//! per-token verdict: what was expected, what the sandbox counted.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use pushbatch::seed::{SeedOptions, SeedUser, user_id, user_record};
use serde_json::{Value, json};

/// The category every scenario's batch files carry; the seeded population
/// mutes some users for it.
pub const CATEGORY: &str = "re-engagement";

/// A seeded population: the same seed gives the same users and tokens.
#[derive(Debug, Clone)]
pub struct Population {
    pub opts: SeedOptions,
}

impl Population {
    /// Users with 5% dead tokens, 3% opted out and 4% with muted categories
    /// (about half of those mute [`CATEGORY`]).
    pub fn new(users: u64, seed: u64) -> Self {
        Population {
            opts: SeedOptions {
                users,
                dead_fraction: 0.05,
                opted_out_fraction: 0.03,
                muted_fraction: 0.04,
                seed,
                ..SeedOptions::default()
            },
        }
    }

    pub fn user(&self, index: u64) -> SeedUser {
        user_record(index, &self.opts)
    }

    /// Whether a file with [`CATEGORY`] sends to this user at all.
    pub fn targeted(user: &SeedUser) -> bool {
        user.push_enabled && !user.muted_categories.iter().any(|c| c == CATEGORY)
    }

    /// A JSONL batch file for `users`: the header, then one entry per user,
    /// every third with a `vars` object so both entry shapes are read.
    pub fn jsonl(&self, campaign: &str, users: Range<u64>) -> Vec<u8> {
        let header = json!({"campaign": campaign, "category": CATEGORY,
            "notification": {"title": "Hello", "body": "Hi {{name}}", "data": {"deeplink": "app://home"}}});
        let mut out = header.to_string();
        for i in users {
            out.push('\n');
            let id = user_id(i, &self.opts.prefix);
            let entry =
                if i % 3 == 0 { json!({"user_id": id, "vars": {"name": format!("user {i}")}}) } else { json!(id) };
            out.push_str(&entry.to_string());
        }
        out.push('\n');
        out.into_bytes()
    }

    /// What sending to `users` should do, token by token.
    pub fn expect(&self, users: Range<u64>) -> Expected {
        let first = users.start;
        let mut expected = Expected { first, ..Expected::default() };
        for i in users {
            let user = self.user(i);
            let targeted = Self::targeted(&user);
            for device in &user.devices {
                let token = device.token.clone();
                match (targeted, device.is_dead()) {
                    (true, false) => expected.live.insert(token, i),
                    (true, true) => expected.dead.insert(token, i),
                    (false, _) => expected.untargeted.insert(token, i),
                };
            }
        }
        expected
    }
}

/// Tokens of a range of users, by what should happen to them, each mapped
/// to its user's index.
#[derive(Debug, Clone, Default)]
pub struct Expected {
    /// Index of the first user in the file (entry 0).
    pub first: u64,
    pub live: BTreeMap<String, u64>,
    pub dead: BTreeMap<String, u64>,
    /// Opted out or muted: never sent.
    pub untargeted: BTreeMap<String, u64>,
}

/// The per-token verdict of one or more jobs.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub live: usize,
    /// Live tokens the sandbox accepted at least once.
    pub delivered: usize,
    /// Live tokens never delivered but listed in failed.jsonl.
    pub in_failed: usize,
    /// Live tokens neither delivered nor in failed.jsonl.
    pub lost: Vec<String>,
    /// Tokens delivered more than once, with their count.
    pub duplicated: BTreeMap<String, u64>,
    /// Σ (count − 1) over duplicated tokens.
    pub extra_deliveries: u64,
    /// Deliveries to tokens that should get none (dead, opted out, muted,
    /// or not in the file).
    pub stray: Vec<String>,
    /// Batches (entry index / batch size) holding a duplicated token.
    pub duplicate_batches: BTreeSet<u64>,
    /// The widest span of users, first to last, holding duplicates within
    /// one batch.
    pub largest_window_users: u64,
}

impl Tally {
    pub fn new(
        expected: &Expected,
        deliveries: &BTreeMap<String, u64>,
        failed: &BTreeSet<String>,
        batch_size: u64,
    ) -> Tally {
        let mut tally = Tally { live: expected.live.len(), ..Tally::default() };
        let mut windows: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for (token, &user) in &expected.live {
            match deliveries.get(token).copied().unwrap_or(0) {
                0 if failed.contains(token) => tally.in_failed += 1,
                0 => tally.lost.push(token.clone()),
                1 => tally.delivered += 1,
                n => {
                    tally.delivered += 1;
                    tally.duplicated.insert(token.clone(), n);
                    tally.extra_deliveries += n - 1;
                    let entry = user - expected.first;
                    let window = windows.entry(entry / batch_size.max(1)).or_insert((entry, entry));
                    window.0 = window.0.min(entry);
                    window.1 = window.1.max(entry);
                }
            }
        }
        tally.stray = deliveries.keys().filter(|t| !expected.live.contains_key(*t)).cloned().collect();
        tally.duplicate_batches = windows.keys().copied().collect();
        tally.largest_window_users = windows.values().map(|(lo, hi)| hi - lo + 1).max().unwrap_or(0);
        tally
    }

    /// One line for logs and failure messages (lists are cut short).
    pub fn describe(&self) -> String {
        let few = |v: &[String]| v.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
        format!(
            "live {} | delivered {} | only in failed.jsonl {} | lost {} [{}] | duplicated {} (+{} deliveries, batches {:?}, \
             widest {} users) | stray {} [{}]",
            self.live,
            self.delivered,
            self.in_failed,
            self.lost.len(),
            few(&self.lost),
            self.duplicated.len(),
            self.extra_deliveries,
            self.duplicate_batches,
            self.largest_window_users,
            self.stray.len(),
            few(&self.stray),
        )
    }
}

/// Tokens listed in a failed.jsonl (header line first, then user entries
/// with inline `devices`).
pub fn failed_tokens(text: &str) -> anyhow::Result<BTreeSet<String>> {
    let mut tokens = BTreeSet::new();
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let entry: Value = serde_json::from_str(line)?;
        let devices = entry["devices"].as_array().ok_or_else(|| anyhow::anyhow!("no devices in {line}"))?;
        for device in devices {
            let token = device["token"].as_str().ok_or_else(|| anyhow::anyhow!("no token in {line}"))?;
            tokens.insert(token.to_owned());
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_finds_losses_duplicates_and_windows() {
        let pop = Population::new(300, 5);
        let expected = pop.expect(100..300);
        let live: Vec<(&String, &u64)> = expected.live.iter().collect();
        assert!(live.len() > 150, "most tokens are live");
        let mut deliveries: BTreeMap<String, u64> = live.iter().map(|(t, _)| ((*t).clone(), 1)).collect();
        // Two duplicates in the batch of entries 50..100, one loss and one
        // failure outside it.
        let in_batch: Vec<&String> = live.iter().filter(|(_, u)| (**u - 100) / 50 == 1).map(|(t, _)| *t).collect();
        let outside: Vec<&String> = live.iter().filter(|(_, u)| (**u - 100) / 50 != 1).map(|(t, _)| *t).collect();
        assert!(in_batch.len() >= 2 && outside.len() >= 2);
        deliveries.insert(in_batch[0].clone(), 2);
        deliveries.insert(in_batch[in_batch.len() - 1].clone(), 3);
        deliveries.remove(outside[0]);
        deliveries.remove(outside[1]);
        let failed = BTreeSet::from([outside[1].clone()]);
        deliveries.insert("dead-or-unknown".into(), 1);
        let tally = Tally::new(&expected, &deliveries, &failed, 50);
        assert_eq!(tally.lost, vec![outside[0].clone()]);
        assert_eq!(tally.in_failed, 1);
        assert_eq!(tally.duplicated.len(), 2);
        assert_eq!(tally.extra_deliveries, 3);
        assert_eq!(tally.duplicate_batches, BTreeSet::from([1]));
        assert!(tally.largest_window_users > 1 && tally.largest_window_users <= 50);
        assert_eq!(tally.stray, vec!["dead-or-unknown".to_string()]);
    }

    #[test]
    fn files_and_failed_reports_parse() {
        let pop = Population::new(10, 1);
        let text = String::from_utf8(pop.jsonl("c", 0..10)).unwrap();
        assert_eq!(text.lines().count(), 11);
        let failed =
            "{\"campaign\":\"c\"}\n{\"user_id\":\"u-1\",\"devices\":[{\"platform\":\"ios\",\"token\":\"ab\"}]}\n";
        assert_eq!(failed_tokens(failed).unwrap(), BTreeSet::from(["ab".to_string()]));
    }
}
