//! A campaign run: one per campaign and UTC day.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// scheduled holds the run (until `lease_until_ms`).
    Querying,
    /// The segment is written.
    Segmented,
    /// The query selected nobody: no segment, nothing to send.
    Empty,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Querying => "querying",
            RunState::Segmented => "segmented",
            RunState::Empty => "empty",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "querying" => RunState::Querying,
            "segmented" => RunState::Segmented,
            "empty" => RunState::Empty,
            _ => return None,
        })
    }
}

/// What ab-split did with a run's segment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitRecord {
    pub segment_etag: String,
    pub entries: u64,
    /// Entries without a usable user id, by reason: not assigned.
    pub invalid: BTreeMap<String, u64>,
    /// Users per variant name, and `control`.
    pub assigned: BTreeMap<String, u64>,
    /// Variant name → `<bucket>/<key>#<etag>` of its batch file (the jobs
    /// table's `by_object` key). Variants with no users have none.
    pub batches: BTreeMap<String, String>,
    pub control_key: String,
    pub at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignRun {
    pub campaign: String,
    /// The run's UTC day, `YYYY-MM-DD`.
    pub run_date: String,
    /// A record that only ab-split wrote (a segment put by hand) has none.
    pub state: Option<RunState>,
    pub target_day: Option<String>,
    pub lease_until_ms: i64,
    pub started_at_ms: i64,
    pub updated_at_ms: i64,
    pub users: u64,
    pub segment_key: Option<String>,
    pub split: Option<SplitRecord>,
}

impl CampaignRun {
    /// A run nobody has touched yet.
    pub fn new(campaign: &str, run_date: &str) -> Self {
        Self {
            campaign: campaign.to_owned(),
            run_date: run_date.to_owned(),
            state: None,
            target_day: None,
            lease_until_ms: 0,
            started_at_ms: 0,
            updated_at_ms: 0,
            users: 0,
            segment_key: None,
            split: None,
        }
    }
}

/// The outcome of trying to start a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This invocation runs it.
    Claimed,
    /// It ran already: a re-run is a no-op.
    Done(CampaignRun),
    /// Another invocation holds it and its lease has not run out.
    Busy(CampaignRun),
}
