//! The self-invoking chain (Contract 3): what starts a link, who may run it,
//! and when it must hand on.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::jobs::{JobRecord, JobStatus};

/// `{"continue": {...}}`: the payload one link sends the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Continuation {
    pub job_id: String,
    pub bucket: String,
    pub key: String,
    pub etag: String,
    pub offset: u64,
    pub seq: u64,
}

impl Continuation {
    /// The link a job (or shard) record is at now.
    pub fn of(r: &JobRecord) -> Self {
        Continuation {
            job_id: r.job_id.clone(),
            bucket: r.bucket.clone(),
            key: r.key.clone(),
            etag: r.etag.clone(),
            offset: r.offset,
            seq: r.seq,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContinuationEvent {
    #[serde(rename = "continue")]
    pub next: Continuation,
}

impl ContinuationEvent {
    /// The Invoke payload.
    pub fn to_json(&self) -> Vec<u8> {
        // Strings and numbers only: serde_json cannot fail to encode them.
        serde_json::to_vec(self).expect("a continuation encodes as JSON")
    }
}

/// A job's identity: the same S3 event (an async retry, a duplicate
/// delivery) gives the same job; a new upload gives a new one.
pub fn job_id(bucket: &str, key: &str, etag: &str, sequencer: &str) -> String {
    let mut h = Sha256::new();
    for part in [bucket, key, etag, sequencer] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest = hex::encode(&h.finalize()[..6]);
    let stem = key.rsplit('/').next().unwrap_or(key);
    let stem = stem.split('.').next().unwrap_or(stem);
    let readable: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .take(48)
        .collect();
    if readable.is_empty() { digest } else { format!("{readable}-{digest}") }
}

/// What an invocation may do with the job it was started for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No record yet: create it (first link from an S3 event).
    Create,
    /// Take the link: nobody holds it, or its holder's lease ran out.
    Take { version: u64 },
    /// Someone holds it and their lease still runs: wait, then look again.
    Wait { until_ms: i64, version: u64 },
    /// The chain moved on but nobody took the next link: the handoff's
    /// Invoke may have been lost, so send the continuation again.
    Resend(Continuation),
    /// The job runs as shards: start any shard whose start was lost.
    Shards,
    /// The job waits for its `send_at`: make sure its schedule exists.
    Scheduled,
    /// Nothing to do; says why.
    Ignore(String),
}

pub fn decide(record: Option<&JobRecord>, seq: u64, from_s3: bool, now_ms: i64) -> Decision {
    let Some(r) = record else {
        return if from_s3 { Decision::Create } else { Decision::Ignore("no job record for this continuation".into()) };
    };
    if r.status.is_terminal() {
        return Decision::Ignore(format!("the job is already {}", r.status.as_str()));
    }
    // A repeated upload event must not start a scheduled job early; its
    // schedule's continuation (link 0) does.
    if r.status == JobStatus::Scheduled && from_s3 {
        return Decision::Scheduled;
    }
    if r.shards.is_some() {
        return if from_s3 { Decision::Shards } else { Decision::Ignore("the job runs as shards".into()) };
    }
    if r.parts.as_ref().is_some_and(|p| p.main_done) {
        return Decision::Ignore("the job waits for its deferred parts".into());
    }
    if r.seq == seq + 1 && r.owner.is_none() {
        return Decision::Resend(Continuation::of(r));
    }
    if r.seq != seq {
        return Decision::Ignore(format!("stale link {seq}: the chain is at link {}", r.seq));
    }
    match &r.owner {
        None => Decision::Take { version: r.version },
        Some(_) if r.lease_until_ms <= now_ms => Decision::Take { version: r.version },
        Some(_) => Decision::Wait { until_ms: r.lease_until_ms, version: r.version },
    }
}

/// Deadlines below this are not epoch times: `cargo lambda watch` sends a
/// fixed 600000 instead of a real deadline.
const EPOCH_2001_MS: u64 = 978_307_200_000;

/// How long this invocation may keep sending.
#[derive(Debug, Clone)]
pub struct TimeBudget {
    end: Instant,
    floor: Duration,
    longest_batch: Duration,
}

impl TimeBudget {
    /// From the Context deadline (epoch ms), capped by `max_run`. When the
    /// deadline is not a real epoch time, `max_run` (or 10 minutes) is used.
    pub fn new(deadline_ms: u64, now_ms: u64, max_run: Option<Duration>, floor: Duration) -> Self {
        let from_deadline =
            (deadline_ms >= EPOCH_2001_MS).then(|| Duration::from_millis(deadline_ms.saturating_sub(now_ms)));
        let run = match (from_deadline, max_run) {
            (Some(d), Some(m)) => d.min(m),
            (Some(d), None) => d,
            (None, Some(m)) => m,
            (None, None) => Duration::from_secs(600),
        };
        Self { end: Instant::now() + run, floor, longest_batch: Duration::ZERO }
    }

    pub fn record_batch(&mut self, took: Duration) {
        self.longest_batch = self.longest_batch.max(took);
    }

    /// The margin kept for checkpointing and invoking the next link: twice the
    /// slowest batch seen so far, never below the floor.
    pub fn margin(&self) -> Duration {
        (self.longest_batch * 2).max(self.floor)
    }

    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    pub fn should_hand_off(&self) -> bool {
        self.remaining() <= self.margin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, owner: Option<&str>, lease: i64) -> JobRecord {
        JobRecord {
            seq,
            owner: owner.map(str::to_owned),
            lease_until_ms: lease,
            version: 4,
            offset: 99,
            invocations: 1,
            ..JobRecord::new("j", "b", "k", "e", 0)
        }
    }

    #[test]
    fn claims() {
        assert_eq!(decide(None, 0, true, 0), Decision::Create);
        assert!(matches!(decide(None, 3, false, 0), Decision::Ignore(_)));
        assert_eq!(decide(Some(&record(3, None, 0)), 3, false, 100), Decision::Take { version: 4 });
        assert_eq!(decide(Some(&record(3, Some("x"), 50)), 3, false, 100), Decision::Take { version: 4 });
        assert_eq!(
            decide(Some(&record(3, Some("x"), 500)), 3, false, 100),
            Decision::Wait { until_ms: 500, version: 4 }
        );
        assert!(
            matches!(decide(Some(&record(4, None, 0)), 3, false, 0), Decision::Resend(c) if c.seq == 4 && c.offset == 99)
        );
        assert!(
            matches!(decide(Some(&record(4, Some("x"), 0)), 3, false, 0), Decision::Ignore(_)),
            "duplicate of an old link"
        );
        assert!(matches!(decide(Some(&record(6, None, 0)), 3, false, 0), Decision::Ignore(_)), "out of order");
        let mut sharded = record(0, None, 0);
        sharded.shards = Some(crate::jobs::ShardSet::new(vec![0, 5, 9]));
        assert_eq!(
            decide(Some(&sharded), 0, true, 0),
            Decision::Shards,
            "a repeated upload event restarts lost shards"
        );
        assert!(matches!(decide(Some(&sharded), 0, false, 0), Decision::Ignore(_)));
        let mut done = record(3, None, 0);
        done.status = JobStatus::Done;
        assert!(matches!(decide(Some(&done), 0, true, 0), Decision::Ignore(m) if m.contains("done")));
        let mut scheduled = record(0, None, 0);
        scheduled.status = JobStatus::Scheduled;
        assert_eq!(decide(Some(&scheduled), 0, true, 0), Decision::Scheduled, "an upload event never starts it");
        assert_eq!(decide(Some(&scheduled), 0, false, 0), Decision::Take { version: 4 }, "its schedule does");
        let mut stopped = record(3, None, 0);
        stopped.status = JobStatus::Stopped;
        assert!(matches!(decide(Some(&stopped), 3, false, 0), Decision::Ignore(m) if m.contains("stopped")));
    }

    #[test]
    fn job_ids_are_stable_and_readable() {
        let a = job_id("b", "batches/day21 promo.json", "e1", "0001");
        assert_eq!(a, job_id("b", "batches/day21 promo.json", "e1", "0001"));
        assert_ne!(a, job_id("b", "batches/day21 promo.json", "e2", "0001"));
        assert_ne!(a, job_id("b", "batches/day21 promo.json", "e1", "0002"));
        assert!(a.starts_with("day21-promo-"), "{a}");
    }

    #[test]
    fn budget_uses_the_deadline_or_max_run() {
        let now = 1_800_000_000_000u64;
        let b = TimeBudget::new(now + 60_000, now, None, Duration::from_secs(5));
        assert!(b.remaining() > Duration::from_secs(55) && b.remaining() <= Duration::from_secs(60));
        let b = TimeBudget::new(now + 60_000, now, Some(Duration::from_secs(10)), Duration::from_secs(1));
        assert!(b.remaining() <= Duration::from_secs(10));
        // cargo lambda watch: a fixed 600000 is not a deadline.
        let b = TimeBudget::new(600_000, now, Some(Duration::from_secs(7)), Duration::from_secs(1));
        assert!(b.remaining() <= Duration::from_secs(7) && b.remaining() > Duration::from_secs(6));
    }

    #[test]
    fn margin_learns_from_batches() {
        let now = 1_800_000_000_000u64;
        let mut b = TimeBudget::new(now + 10_000, now, None, Duration::from_secs(1));
        assert_eq!(b.margin(), Duration::from_secs(1));
        assert!(!b.should_hand_off());
        b.record_batch(Duration::from_secs(6));
        assert_eq!(b.margin(), Duration::from_secs(12));
        assert!(b.should_hand_off());
    }
}
