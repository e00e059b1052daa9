//! A job's record: status, offset, counters and the chain's `seq`; on a
//! sharded job, how the file was cut; on a shard, whose shard it is.

use serde::{Deserialize, Serialize};

use crate::batch::Layout;
use crate::cost::Usage;
use crate::counters::Counters;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Created with a `send_at` in the future: waits for its schedule.
    Scheduled,
    Running,
    Done,
    /// The file changed mid-job (412 on If-Match).
    Aborted,
    /// The file or its notification is unusable (malformed JSON, too big).
    Failed,
    /// An operator, or the job's own canary, stopped it (see `stop`).
    Stopped,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Scheduled => "scheduled",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Aborted => "aborted",
            JobStatus::Failed => "failed",
            JobStatus::Stopped => "stopped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "scheduled" => JobStatus::Scheduled,
            "running" => JobStatus::Running,
            "done" => JobStatus::Done,
            "aborted" => JobStatus::Aborted,
            "failed" => JobStatus::Failed,
            "stopped" => JobStatus::Stopped,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, JobStatus::Scheduled | JobStatus::Running)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: String,
    pub status: JobStatus,
    pub bucket: String,
    pub key: String,
    pub etag: String,
    /// The chain link that owns the job now.
    pub seq: u64,
    /// Invocation holding the current link; None between links.
    pub owner: Option<String>,
    /// Epoch ms until which the owner's claim stands without a checkpoint.
    pub lease_until_ms: i64,
    /// Bumped by every write; writes are conditional on it.
    pub version: u64,
    /// Byte offset of the next entry to send.
    pub offset: u64,
    /// JSONL line number at `offset`.
    pub line: u64,
    pub layout: Option<Layout>,
    pub counters: Counters,
    pub invocations: u64,
    pub busy_ms: u64,
    pub started_at_ms: i64,
    pub updated_at_ms: i64,
    pub reason: Option<String>,
    /// On a sharded job's record: how the file was cut and which shards
    /// have finished (see `crate::shards`).
    #[serde(default)]
    pub shards: Option<ShardSet>,
    /// On a shard's record: its job and its byte range.
    #[serde(default)]
    pub shard: Option<ShardOf>,
    /// Entries in the whole file, counted by the pre-flight check before the
    /// first push (absent on records written before it existed).
    #[serde(default)]
    pub total_entries: Option<u64>,
    /// When a `send_at` schedules the job: the epoch ms it may start.
    #[serde(default)]
    pub send_at_ms: Option<i64>,
    /// How a stopped job (or shard) was stopped.
    #[serde(default)]
    pub stop: Option<StopNote>,
    /// On a job with deferred users: its later parts, one per instant.
    #[serde(default)]
    pub parts: Option<PartSet>,
    /// On a part's record: its job and the instant it sends at.
    #[serde(default)]
    pub part: Option<PartOf>,
    /// What this record's links used of AWS (a job's adds its shards' and
    /// parts' when they roll in): the summary's cost receipt.
    #[serde(default)]
    pub usage: Usage,
}

/// A job's deferred parts: users who get the push later (at their local
/// time, or when their quiet hours end), grouped by the instant they are
/// due. Each part is a job record of its own, `<job>#at<instant>`, reading
/// a batch file of its users, started by a one-time schedule.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PartSet {
    /// Every part, by instant (epoch ms).
    pub due: Vec<i64>,
    /// Parts that finished (rolled into the job).
    #[serde(default)]
    pub finished: Vec<FinishedPart>,
    /// The job's own pass over the file is over: it finishes with its last part.
    #[serde(default)]
    pub main_done: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishedPart {
    pub at_ms: i64,
    pub status: JobStatus,
    #[serde(default)]
    pub reason: Option<String>,
}

impl PartSet {
    pub fn is_finished(&self, at_ms: i64) -> bool {
        self.finished.iter().any(|f| f.at_ms == at_ms)
    }

    /// Instants still to send, in order.
    pub fn pending(&self) -> Vec<i64> {
        let mut p: Vec<i64> = self.due.iter().copied().filter(|at| !self.is_finished(*at)).collect();
        p.sort_unstable();
        p.dedup();
        p
    }

    pub fn is_complete(&self) -> bool {
        self.main_done && self.pending().is_empty()
    }
}

/// On a part's record: whose part it is and when it is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartOf {
    pub parent: String,
    pub at_ms: i64,
}

pub fn part_id(parent: &str, at_ms: i64) -> String {
    format!("{parent}#at{at_ms}")
}

/// Who stopped a job, why, and where it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopNote {
    pub by: String,
    pub reason: Option<String>,
    pub at_ms: i64,
    /// The byte offset of the first entry that was not sent.
    pub offset: u64,
}

impl JobRecord {
    /// A running job on `bucket/key` at `etag`, nothing sent, nobody
    /// holding it.
    pub fn new(job_id: &str, bucket: &str, key: &str, etag: &str, now_ms: i64) -> Self {
        JobRecord {
            job_id: job_id.into(),
            status: JobStatus::Running,
            bucket: bucket.into(),
            key: key.into(),
            etag: crate::objects::unquote(etag),
            seq: 0,
            owner: None,
            lease_until_ms: 0,
            version: 1,
            offset: 0,
            line: 0,
            layout: None,
            counters: Counters::default(),
            invocations: 0,
            busy_ms: 0,
            started_at_ms: now_ms,
            updated_at_ms: now_ms,
            reason: None,
            shards: None,
            shard: None,
            total_entries: None,
            send_at_ms: None,
            stop: None,
            parts: None,
            part: None,
            usage: Usage::default(),
        }
    }

    /// The job whose reports (and control) this record uses: its parent for
    /// a shard or a part.
    pub fn report_job_id(&self) -> &str {
        match (&self.shard, &self.part) {
            (Some(s), _) => s.parent.as_str(),
            (None, Some(p)) => p.parent.as_str(),
            (None, None) => self.job_id.as_str(),
        }
    }

    /// A part of a job, not the job (shards and deferred parts).
    pub fn is_child(&self) -> bool {
        self.shard.is_some() || self.part.is_some()
    }
}

/// The `by_object` index key: which file (and version of it) a job reads.
pub fn object_id(bucket: &str, key: &str, etag: &str) -> String {
    format!("{bucket}/{key}#{}", crate::objects::unquote(etag))
}

/// On the job's record: the cut, and the shards rolled up so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSet {
    /// Shard `i` reads bytes `bounds[i]..bounds[i + 1]`.
    pub bounds: Vec<u64>,
    #[serde(default)]
    pub finished: Vec<FinishedShard>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishedShard {
    pub index: u32,
    pub status: JobStatus,
    #[serde(default)]
    pub reason: Option<String>,
}

impl ShardSet {
    pub fn new(bounds: Vec<u64>) -> Self {
        Self { bounds, finished: Vec::new() }
    }

    pub fn count(&self) -> u32 {
        self.bounds.len().saturating_sub(1) as u32
    }

    pub fn range(&self, index: u32) -> Option<(u64, u64)> {
        let i = index as usize;
        Some((*self.bounds.get(i)?, *self.bounds.get(i + 1)?))
    }

    pub fn is_finished(&self, index: u32) -> bool {
        self.finished.iter().any(|f| f.index == index)
    }

    pub fn is_complete(&self) -> bool {
        (0..self.count()).all(|i| self.is_finished(i))
    }

    /// The job's status once every shard has finished: done only if every
    /// shard is; a changed file outranks a stop, which outranks a malformed
    /// line (the operator's word is what the job did).
    pub fn outcome(&self) -> (JobStatus, Option<String>) {
        let status = if self.finished.iter().any(|f| f.status == JobStatus::Aborted) {
            JobStatus::Aborted
        } else if self.finished.iter().any(|f| f.status == JobStatus::Stopped) {
            JobStatus::Stopped
        } else if self.finished.iter().any(|f| f.status == JobStatus::Failed) {
            JobStatus::Failed
        } else {
            JobStatus::Done
        };
        let mut problems: Vec<&FinishedShard> = self.finished.iter().filter(|f| f.status != JobStatus::Done).collect();
        problems.sort_by_key(|f| f.index);
        let reason = problems
            .iter()
            .map(|f| format!("shard {}: {}", f.index, f.reason.as_deref().unwrap_or(f.status.as_str())))
            .collect::<Vec<_>>()
            .join("; ");
        (status, (!reason.is_empty()).then_some(reason))
    }
}

/// On a shard's record: whose shard it is and where it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardOf {
    pub parent: String,
    pub index: u32,
    /// Exclusive: the first byte of the next shard.
    pub end: u64,
}

pub fn shard_id(parent: &str, index: u32) -> String {
    format!("{parent}#shard{index:03}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> JobRecord {
        JobRecord {
            seq: 2,
            owner: Some("me".into()),
            lease_until_ms: 10,
            version: 7,
            offset: 1234,
            invocations: 3,
            busy_ms: 9,
            started_at_ms: 1,
            updated_at_ms: 2,
            ..JobRecord::new("j", "b", "batches/x.json", "e", 0)
        }
    }
}
