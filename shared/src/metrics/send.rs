//! What send-batch publishes about its links, for the send loop to call:
//!
//! ```text
//! let mut link = shared::metrics::link_started(&job_id);   // claim won, before the first batch
//! for each batch {
//!     … send, record.counters.add(&result.counters) …
//!     link.batch(&result.counters);                        // devices by provider, retries, entries
//!     if checkpoint(..)? { link.checkpointed(); }          // resets SecondsSinceCheckpoint
//! }
//! link.finish(busy);                                       // LinkUsers, UsersPerSecond; flushes
//! ```
//!
//! A link that ends in an error drops its `Link`, which stops the
//! checkpoint level and the job property (nothing per link is recorded).

use std::time::{Duration, Instant};

use super::export::{Exporter, installed};
use super::names::{
    DEVICES_ATTEMPTED, DEVICES_DELIVERED, DEVICES_FAILED, DEVICES_PRUNED, LINK_USERS, PUSH_RETRIES, USERS_PER_SECOND,
};
use super::push::Provider;
use crate::counters::Counters;

/// The EMF property that names the job a document's metrics belong to.
pub const JOB_PROPERTY: &str = "job_id";

/// One chain link in progress in this process.
#[must_use = "dropping the link ends its checkpoint level"]
pub struct Link {
    exporter: Option<&'static Exporter>,
    entries: u64,
    started: Instant,
}

/// A link of `job_id` starts: the job id goes into every document until it
/// ends, and `SecondsSinceCheckpoint` is published from now on.
pub fn link_started(job_id: &str) -> Link {
    Link::start(installed(), job_id, Instant::now())
}

impl Link {
    pub(super) fn start(exporter: Option<&'static Exporter>, job_id: &str, now: Instant) -> Link {
        if let Some(e) = exporter {
            e.set_property(JOB_PROPERTY, job_id);
            e.set_checkpoint(Some(now));
        }
        Link { exporter, entries: 0, started: now }
    }

    /// One batch's counters (not the job's running totals).
    pub fn batch(&mut self, batch: &Counters) {
        self.entries += batch.entries;
        for (platform, d) in &batch.devices {
            let p = Provider::from(*platform).as_str();
            for (metric, n) in [
                (DEVICES_ATTEMPTED, d.attempted),
                (DEVICES_DELIVERED, d.delivered),
                (DEVICES_PRUNED, d.pruned),
                (DEVICES_FAILED, d.failed),
                (PUSH_RETRIES, d.retries),
            ] {
                metrics::counter!(metric.name, "provider" => p).increment(n);
            }
        }
    }

    /// The job record was written: the link is alive and advancing.
    pub fn checkpointed(&mut self) {
        if let Some(e) = self.exporter {
            e.set_checkpoint(Some(Instant::now()));
        }
    }

    /// The link ended (handed off or finished the job); `busy` is its time
    /// spent sending, as the job record counts it. Flushes.
    pub fn finish(self, busy: Duration) {
        self.totals(busy);
        if let Some(e) = self.exporter {
            e.flush();
        }
    }

    fn totals(&self, busy: Duration) {
        metrics::counter!(LINK_USERS.name).increment(self.entries);
        if let Some(rate) = per_second(self.entries, busy) {
            metrics::histogram!(USERS_PER_SECOND.name).record(rate);
        }
    }

    /// When this link started.
    pub fn started(&self) -> Instant {
        self.started
    }

    #[cfg(test)]
    pub(super) fn finish_unflushed(self, busy: Duration) {
        self.totals(busy);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(e) = self.exporter {
            e.set_checkpoint(None);
            e.clear_property(JOB_PROPERTY);
        }
    }
}

/// The watchdog's reading: the oldest checkpoint among the running chains of
/// every job. A link that was killed and not retried publishes nothing
/// itself; this reading is how its silence shows. Nothing running: no data
/// point. Flushes.
pub fn oldest_checkpoint(age: Option<Duration>) {
    let (Some(e), Some(age)) = (installed(), age) else { return };
    e.set_checkpoint(Instant::now().checked_sub(age));
    e.flush();
    e.set_checkpoint(None);
}

fn per_second(entries: u64, busy: Duration) -> Option<f64> {
    let secs = busy.as_secs_f64();
    (secs > 0.0).then(|| entries as f64 / secs)
}
