//! One-time schedules that start a job later (`send_at`): EventBridge
//! Scheduler on AWS, the event plane's emulation of it locally, a recorder in
//! tests. A schedule invokes send-batch with a payload at a time, once, and
//! deletes itself when done.

use std::future::Future;

mod eventbridge;
mod memory;

pub use eventbridge::{EventBridgeSchedules, ScheduleTarget};
pub use memory::MemorySchedules;

#[derive(Debug, thiserror::Error)]
#[error("EventBridge Scheduler {operation} of schedule {name}")]
pub struct ScheduleError {
    pub operation: &'static str,
    pub name: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// A schedule to create: its name (unique per job), when, and the payload
/// send-batch receives then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTime {
    pub name: String,
    pub at_ms: i64,
    /// The function to invoke (send-batch's own ARN, from its context).
    pub target_arn: String,
    pub payload: Vec<u8>,
}

pub trait ScheduleJobs: Send + Sync {
    /// Creates the schedule; a schedule of that name already there counts as
    /// created (a retried creation).
    fn create(&self, schedule: &OneTime) -> impl Future<Output = Result<(), ScheduleError>> + Send;
    /// Deletes it; one that is gone (ran, or never made) counts as deleted.
    fn delete(&self, name: &str) -> impl Future<Output = Result<(), ScheduleError>> + Send;
}

/// No scheduler configured: every schedule is refused, naming why.
impl<S: ScheduleJobs> ScheduleJobs for Option<S> {
    async fn create(&self, schedule: &OneTime) -> Result<(), ScheduleError> {
        match self {
            Some(s) => s.create(schedule).await,
            None => Err(ScheduleError {
                operation: "CreateSchedule",
                name: schedule.name.clone(),
                source: "no scheduler is configured (SCHEDULER_ROLE_ARN is not set)".into(),
            }),
        }
    }

    async fn delete(&self, name: &str) -> Result<(), ScheduleError> {
        match self {
            Some(s) => s.delete(name).await,
            // Nothing can have been scheduled.
            None => Ok(()),
        }
    }
}

/// A job's schedule name: Scheduler names take `[0-9a-zA-Z-_.]{1,64}`, and
/// job ids are at most 61 such characters.
pub fn schedule_name(job_id: &str) -> String {
    let clean: String = job_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    // The id's tail is its unique hash: keep it when the id is too long.
    format!("pb-{}", &clean[clean.len().saturating_sub(61)..])
}

/// Scheduler's one-time expression, UTC, to the second.
pub fn at_expression(at_ms: i64) -> Option<String> {
    let at = chrono::DateTime::from_timestamp_millis(at_ms)?;
    Some(format!("at({})", at.format("%Y-%m-%dT%H:%M:%S")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_expressions_are_what_scheduler_takes() {
        assert_eq!(schedule_name("promo-0a1b2c3d4e5f"), "pb-promo-0a1b2c3d4e5f");
        let long = format!("{}-0a1b2c3d4e5f", "x".repeat(48));
        assert_eq!(schedule_name(&long).len(), 64);
        assert!(schedule_name(&long).ends_with("-0a1b2c3d4e5f"), "the unique part is kept");
        assert_eq!(at_expression(1_796_115_600_000).unwrap(), "at(2026-12-01T09:00:00)");
    }
}
