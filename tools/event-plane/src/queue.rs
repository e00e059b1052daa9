//! The asynchronous invocation queue: FIFO, pausable, with jobs waiting for a
//! retry counted as queued.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;

use crate::stats::Source;

#[derive(Debug, Clone)]
pub struct Job {
    /// Request id returned to the caller (or generated for S3 events).
    pub id: String,
    /// Plain function name.
    pub function: String,
    pub payload: Bytes,
    pub source: Source,
    /// Attempts already made; 0 for a fresh job.
    pub attempts_made: u32,
}

#[derive(Debug, Default)]
struct State {
    jobs: VecDeque<Job>,
    in_flight: usize,
    waiting_retry: usize,
    paused: bool,
}

/// Counts read under one lock, so a job moving between states is never
/// momentarily invisible to someone polling for idleness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueCounts {
    pub queued: usize,
    pub in_flight: usize,
    pub paused: bool,
}

#[derive(Debug, Default)]
pub struct Queue {
    state: Mutex<State>,
    wake: Notify,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn push(&self, job: Job) {
        self.lock().jobs.push_back(job);
        self.wake.notify_one();
    }

    pub fn pause(&self) {
        self.lock().paused = true;
    }

    pub fn resume(&self) {
        self.lock().paused = false;
        self.wake.notify_one();
    }

    pub fn counts(&self) -> QueueCounts {
        let s = self.lock();
        QueueCounts { queued: s.jobs.len() + s.waiting_retry, in_flight: s.in_flight, paused: s.paused }
    }

    /// Waits for a job while not paused, and marks it in flight.
    pub async fn take(&self) -> Job {
        loop {
            {
                let mut s = self.lock();
                if !s.paused
                    && let Some(job) = s.jobs.pop_front()
                {
                    s.in_flight += 1;
                    return job;
                }
            }
            // notify_one stores a permit when nobody waits, so a push between
            // the check above and this await is not lost.
            self.wake.notified().await;
        }
    }

    /// Ends an in-flight job.
    pub fn finish(&self) {
        let mut s = self.lock();
        s.in_flight = s.in_flight.saturating_sub(1);
    }

    /// Ends an in-flight job by putting it back after `delay`; it counts as
    /// queued meanwhile.
    pub fn retry_later(self: &Arc<Self>, job: Job, delay: Duration) {
        {
            let mut s = self.lock();
            s.in_flight = s.in_flight.saturating_sub(1);
            s.waiting_retry += 1;
        }
        let queue = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            {
                let mut s = queue.lock();
                s.waiting_retry = s.waiting_retry.saturating_sub(1);
                s.jobs.push_back(job);
            }
            queue.wake.notify_one();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str) -> Job {
        Job { id: id.into(), function: "f".into(), payload: Bytes::new(), source: Source::Invoke, attempts_made: 0 }
    }

    #[tokio::test]
    async fn fifo_pause_resume_and_counts() {
        let q = Arc::new(Queue::default());
        q.pause();
        q.push(job("1"));
        q.push(job("2"));
        let blocked = tokio::time::timeout(Duration::from_millis(50), q.take()).await;
        assert!(blocked.is_err(), "paused queue handed out a job");
        assert_eq!(q.counts().queued, 2);
        q.resume();
        assert_eq!(q.take().await.id, "1");
        assert_eq!(q.counts(), QueueCounts { queued: 1, in_flight: 1, paused: false });
        q.retry_later(job("1"), Duration::from_millis(10));
        assert_eq!(q.counts().queued, 2);
        assert_eq!(q.counts().in_flight, 0);
        assert_eq!(q.take().await.id, "2");
        assert_eq!(q.take().await.id, "1");
        q.finish();
        q.finish();
        assert_eq!(q.counts().in_flight, 0);
        assert_eq!(q.counts().queued, 0);
    }
}
