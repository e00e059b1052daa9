//! A job's reports in the bucket (Contract 2): where they live, and the
//! summary's format. send-batch writes them; the CLI and the tests read them.

use serde::{Deserialize, Serialize};

use crate::counters::Counters;

/// Everything a job writes lives under this prefix.
pub fn prefix(job_id: &str) -> String {
    format!("reports/{job_id}/")
}

/// Where each batch's failures go before the job ends (see `failed_key`).
pub fn failed_parts_prefix(job_id: &str) -> String {
    format!("reports/{job_id}/failed-parts/")
}

/// The failures of the whole job: a batch file that re-drives them.
pub fn failed_key(job_id: &str) -> String {
    format!("reports/{job_id}/failed.jsonl")
}

/// Every user not sent, and why: a line per user, joined from per-batch parts.
pub fn skipped_key(job_id: &str) -> String {
    format!("reports/{job_id}/skipped.jsonl")
}

pub fn skipped_parts_prefix(job_id: &str) -> String {
    format!("reports/{job_id}/skipped-parts/")
}

/// Each delivery's receipt from its provider (`DELIVERY_RECEIPTS`): a
/// line per delivered device, joined from per-batch parts.
pub fn receipts_key(job_id: &str) -> String {
    format!("reports/{job_id}/receipts.jsonl")
}

pub fn receipts_parts_prefix(job_id: &str) -> String {
    format!("reports/{job_id}/receipts-parts/")
}

/// Deferred users due at one instant, written a batch at a time.
pub fn deferred_prefix(job_id: &str, at_ms: i64) -> String {
    format!("reports/{job_id}/deferred/{at_ms:015}/")
}

/// The batch file a deferred part sends: the job's header, then its users.
pub fn part_file_key(job_id: &str, at_ms: i64) -> String {
    format!("reports/{job_id}/parts/{at_ms:015}.jsonl")
}

pub fn summary_key(job_id: &str) -> String {
    format!("reports/{job_id}/summary.json")
}

/// `reports/<job>/summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub job_id: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub bucket: String,
    pub key: String,
    pub etag: String,
    pub campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub counters: Counters,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    /// Time spent sending (inside invocations), as opposed to waiting between links.
    pub busy_ms: u64,
    pub invocations: u64,
    /// Per chain: attempted devices over `busy_ms`, which for a sharded job
    /// sums every shard's sending time.
    pub sends_per_second: f64,
    /// How many chains sent the file at once (absent: one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_report: Option<String>,
    /// Every user not sent, and why (`skipped.jsonl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_report: Option<String>,
    /// The providers' receipt for each delivery (`receipts.jsonl`), when
    /// the deployment writes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipts_report: Option<String>,
    /// Entries in the file, as the pre-flight check counted them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_entries: Option<u64>,
    /// A stopped job: who stopped it, why, where, and what was not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Stopped>,
    /// What the job used of AWS, priced (see `crate::cost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::cost::Receipt>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stopped {
    pub by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the stop was asked for, RFC 3339.
    pub at: String,
    /// The byte offset of the first entry not sent (of the first shard
    /// that stopped, for a sharded job).
    pub offset: u64,
    /// Entries of the file that were never read, so never sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users_not_sent: Option<u64>,
}
