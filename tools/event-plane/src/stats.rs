//! Counters and the ring of recent delivery records behind `/_plane/stats`
//! and `/_plane/invocations`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;

/// How many delivery records `/_plane/invocations` keeps.
pub const RING_CAPACITY: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    S3,
    Invoke,
    Schedule,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::S3 => "s3",
            Source::Invoke => "invoke",
            Source::Schedule => "schedule",
        }
    }
}

/// Result class of one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    Ok,
    FunctionError,
    ServerError,
    Throttled,
    Rejected,
    ConnectionError,
    Timeout,
}

impl AttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Ok => "ok",
            AttemptStatus::FunctionError => "function_error",
            AttemptStatus::ServerError => "server_error",
            AttemptStatus::Throttled => "throttled",
            AttemptStatus::Rejected => "rejected",
            AttemptStatus::ConnectionError => "connection_error",
            AttemptStatus::Timeout => "timeout",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct InvocationRecord {
    /// The invocation's request id; the same for every attempt of it.
    pub id: String,
    pub function: String,
    pub source: Source,
    /// 1-based.
    pub attempt: u32,
    pub status: AttemptStatus,
    /// Upstream HTTP status, absent when no response came back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct FunctionStats {
    /// Delivery attempts, retries included (like Lambda's Invocations metric).
    pub invocations: u64,
    /// Failed attempts (like Lambda's Errors metric).
    pub errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    delivered: u64,
    failed_attempts: u64,
    dead_lettered: u64,
    s3_events: u64,
    sync_forwarded: u64,
    by_function: BTreeMap<String, FunctionStats>,
    ring: VecDeque<InvocationRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatsSnapshot {
    pub queued: usize,
    pub in_flight: usize,
    pub delivered: u64,
    pub failed_attempts: u64,
    pub dead_lettered: u64,
    pub by_function: BTreeMap<String, FunctionStats>,
    pub s3_events: u64,
    pub sync_forwarded: u64,
    pub paused: bool,
}

#[derive(Debug, Default)]
pub struct Stats {
    counters: Mutex<Counters>,
}

impl Stats {
    fn lock(&self) -> MutexGuard<'_, Counters> {
        // Counters stay meaningful even if a holder panicked mid-update.
        self.counters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn record_attempt(&self, record: InvocationRecord) {
        let mut c = self.lock();
        let ok = record.status == AttemptStatus::Ok;
        if ok {
            c.delivered += 1;
        } else {
            c.failed_attempts += 1;
        }
        let f = c.by_function.entry(record.function.clone()).or_default();
        f.invocations += 1;
        if !ok {
            f.errors += 1;
        }
        if c.ring.len() == RING_CAPACITY {
            c.ring.pop_front();
        }
        c.ring.push_back(record);
    }

    pub fn record_dead_letter(&self) {
        self.lock().dead_lettered += 1;
    }

    pub fn record_s3_event(&self) {
        self.lock().s3_events += 1;
    }

    pub fn record_sync_forward(&self) {
        self.lock().sync_forwarded += 1;
    }

    pub fn snapshot(&self, queued: usize, in_flight: usize, paused: bool) -> StatsSnapshot {
        let c = self.lock();
        StatsSnapshot {
            queued,
            in_flight,
            delivered: c.delivered,
            failed_attempts: c.failed_attempts,
            dead_lettered: c.dead_lettered,
            by_function: c.by_function.clone(),
            s3_events: c.s3_events,
            sync_forwarded: c.sync_forwarded,
            paused,
        }
    }

    /// Oldest first.
    pub fn invocations(&self) -> Vec<InvocationRecord> {
        self.lock().ring.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(function: &str, status: AttemptStatus, n: u32) -> InvocationRecord {
        InvocationRecord {
            id: format!("id-{n}"),
            function: function.into(),
            source: Source::Invoke,
            attempt: 1,
            status,
            http_status: Some(200),
            started: Utc::now(),
            finished: Utc::now(),
            duration_ms: 0,
            error: None,
        }
    }

    #[test]
    fn counts_per_function_and_bounds_the_ring() {
        let stats = Stats::default();
        for n in 0..(RING_CAPACITY as u32 + 5) {
            stats.record_attempt(record("a", AttemptStatus::Ok, n));
        }
        stats.record_attempt(record("b", AttemptStatus::FunctionError, 9999));
        let snap = stats.snapshot(0, 0, false);
        assert_eq!(snap.delivered, RING_CAPACITY as u64 + 5);
        assert_eq!(snap.failed_attempts, 1);
        assert_eq!(snap.by_function["b"].errors, 1);
        assert_eq!(snap.by_function["b"].invocations, 1);
        let ring = stats.invocations();
        assert_eq!(ring.len(), RING_CAPACITY);
        assert_eq!(ring[0].id, "id-6");
        assert_eq!(ring[RING_CAPACITY - 1].id, "id-9999");
    }
}
