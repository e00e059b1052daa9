//! Scheduled campaigns (Contract: `segments/<campaign>/<date>.jsonl` →
//! ab-split → one batch file per variant): their definitions, which live in
//! code so that changes are reviewed and versioned, the deterministic A/B
//! assignment, the S3 keys they use, and the per-day run records.

mod assign;
mod defs;
mod keys;
mod runs;

use chrono::{Days, NaiveDate};
use serde_json::{Map, Value};

use crate::batch::{Header, Notification};

pub use assign::{Assigned, BUCKETS, bucket_of};
pub use defs::ALL;
pub use keys::{SegmentKey, assignment_key, control_key, variant_key};
pub use runs::{
    CampaignRun, Claim, DynamoRuns, MemoryRuns, RunClaim, RunError, RunFinish, RunList, RunSplit, RunState, SplitRecord,
};

/// The name ab-split and the reports use for the users who receive nothing.
pub const CONTROL: &str = "control";

/// One scheduled campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Campaign {
    /// Also the batch files' `campaign`, and part of every S3 key.
    pub id: &'static str,
    pub description: &'static str,
    /// EventBridge Scheduler expression, in UTC; template.yaml declares the
    /// same one (a test compares them).
    pub schedule: &'static str,
    pub audience: Audience,
    /// The batch files' `category` (users can mute a category).
    pub category: &'static str,
    /// Percent of users who get nothing, so that the variants can be
    /// measured against doing nothing.
    pub control_weight: u32,
    pub variants: &'static [Variant],
}

/// Which users a run selects, relative to the run's UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Signed up `days` before the run day; optionally only those whose
    /// sign-up is (or is not) completed.
    SignedUp { days: u64, completed: Option<bool> },
    /// Last active `days` before the run day.
    LastActive { days: u64 },
}

impl Audience {
    /// The day the users table is queried for, on a run day.
    pub fn target_day(self, run_day: NaiveDate) -> Option<NaiveDate> {
        let days = match self {
            Audience::SignedUp { days, .. } | Audience::LastActive { days } => days,
        };
        run_day.checked_sub_days(Days::new(days))
    }
}

/// One message under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    /// Short and S3-key safe: it names the variant's batch file.
    pub name: &'static str,
    /// Percent of the campaign's users.
    pub weight: u32,
    pub title: &'static str,
    /// May use `{{name}}`, filled from the users table.
    pub body: &'static str,
    pub deeplink: &'static str,
}

/// Whether a campaign's weights add up: a `const` use of this fails the
/// build at the offending definition, so a bad split never ships.
pub const fn checked(campaign: Campaign) -> Campaign {
    let mut total = campaign.control_weight;
    let mut i = 0;
    while i < campaign.variants.len() {
        total += campaign.variants[i].weight;
        i += 1;
    }
    assert!(total == 100, "a campaign's variant weights plus its control weight must sum to 100");
    campaign
}

/// The campaign with this id.
pub fn find(id: &str) -> Option<&'static Campaign> {
    ALL.iter().find(|c| c.id == id)
}

impl Campaign {
    /// Everything a definition must satisfy beyond the weights (which
    /// `checked` enforces at build time), each problem named.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let total: u32 = self.control_weight + self.variants.iter().map(|v| v.weight).sum::<u32>();
        if total != 100 {
            out.push(format!("{}: weights sum to {total}, not 100", self.id));
        }
        if self.variants.is_empty() {
            out.push(format!("{}: no variants", self.id));
        }
        for (i, v) in self.variants.iter().enumerate() {
            if v.weight == 0 {
                out.push(format!("{}: variant {} has weight 0", self.id, v.name));
            }
            if v.name == CONTROL || !key_safe(v.name) {
                out.push(format!("{}: variant name {:?} is reserved or not [a-z0-9-]", self.id, v.name));
            }
            if self.variants[..i].iter().any(|w| w.name == v.name) {
                out.push(format!("{}: variant {} is defined twice", self.id, v.name));
            }
        }
        if !key_safe(self.id) {
            out.push(format!("campaign id {:?} is not [a-z0-9-]", self.id));
        }
        out
    }

    /// The variant's batch-file header.
    pub fn header(&self, variant: &Variant) -> Header {
        let mut data = Map::new();
        data.insert("deeplink".into(), Value::String(variant.deeplink.into()));
        // The app reports opens with these, so results can be joined.
        data.insert("campaign".into(), Value::String(self.id.into()));
        data.insert("variant".into(), Value::String(variant.name.into()));
        let notification = Notification {
            title: Some(variant.title.into()),
            body: Some(variant.body.into()),
            data,
            collapse_key: Some(self.id.into()),
            // A day-N nudge that arrives a day late is wrong.
            ttl_seconds: Some(12 * 3600),
            ..Notification::default()
        };
        Header {
            variant: Some(variant.name.into()),
            category: Some(self.category.into()),
            ..Header::new(self.id, notification)
        }
    }

    /// The assignment of one user: a variant, or the control group.
    pub fn assign(&self, user_id: &str) -> Assigned<'_> {
        assign::assign(self, user_id)
    }
}

fn key_safe(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_definition_is_sound() {
        let problems: Vec<String> = ALL.iter().flat_map(Campaign::problems).collect();
        assert!(problems.is_empty(), "campaign definitions: {problems:#?}");
        let mut ids: Vec<&str> = ALL.iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), ALL.len(), "campaign ids must be unique");
    }

    #[test]
    fn problems_name_the_campaign_and_the_sum() {
        const BAD: Campaign = Campaign {
            id: "bad",
            description: "",
            schedule: "cron(0 10 * * ? *)",
            audience: Audience::LastActive { days: 1 },
            category: "x",
            control_weight: 10,
            variants: &[
                Variant { name: "a", weight: 50, title: "t", body: "b", deeplink: "app://" },
                Variant { name: "a", weight: 0, title: "t", body: "b", deeplink: "app://" },
            ],
        };
        let problems = BAD.problems();
        assert!(problems.contains(&"bad: weights sum to 60, not 100".to_string()), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("weight 0")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("defined twice")), "{problems:?}");
    }

    #[test]
    fn headers_are_valid_batch_headers() {
        for campaign in ALL {
            for variant in campaign.variants {
                let header = campaign.header(variant);
                header.validate().unwrap();
                assert_eq!(header.variant.as_deref(), Some(variant.name));
                assert_eq!(header.notification.data["campaign"], campaign.id);
            }
        }
    }

    #[test]
    fn target_days_count_back_from_the_run_day() {
        let run = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let day21 = Audience::LastActive { days: 21 }.target_day(run).unwrap();
        assert_eq!(day21, NaiveDate::from_ymd_opt(2026, 2, 8).unwrap());
        let day1 = Audience::SignedUp { days: 1, completed: Some(false) }.target_day(run).unwrap();
        assert_eq!(day1, NaiveDate::from_ymd_opt(2026, 2, 28).unwrap());
    }
}
