//! A job's control record: what operators (and the job's own canary) ask of
//! it while it runs. One item per job in the jobs table, `<job>#control`,
//! apart from the job's record: the record is written by the link that holds
//! it, the control by anyone, and neither write races the other. Every link
//! and every shard reads it between batches.

use std::future::Future;

use serde::{Deserialize, Serialize};

use super::ports::JobError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ControlState {
    Running,
    /// Links end at their checkpoint; `resume` starts them again.
    Paused,
    /// Links finish the job as `stopped`; nothing restarts it.
    Stopped,
}

impl ControlState {
    pub fn as_str(self) -> &'static str {
        match self {
            ControlState::Running => "running",
            ControlState::Paused => "paused",
            ControlState::Stopped => "stopped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => ControlState::Running,
            "paused" => ControlState::Paused,
            "stopped" => ControlState::Stopped,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Control {
    pub job_id: String,
    pub state: ControlState,
    /// Users per second across the job's links and shards, overriding the
    /// header's `rate_per_second`; None leaves the header's.
    pub rate_per_second: Option<f64>,
    /// Who set the state last, and why.
    pub by: String,
    pub reason: Option<String>,
    pub at_ms: i64,
    /// Bumped by every write; writes are conditional on it.
    pub version: u64,
}

impl Control {
    /// The control a job has before anyone touched it.
    pub fn initial(job_id: &str) -> Self {
        Control {
            job_id: job_id.into(),
            state: ControlState::Running,
            rate_per_second: None,
            by: String::new(),
            reason: None,
            at_ms: 0,
            version: 0,
        }
    }
}

/// The control item's key in the jobs table.
pub fn control_id(job_id: &str) -> String {
    format!("{job_id}#control")
}

pub trait ControlRead: Send + Sync {
    /// The job's control; None when nobody ever set one (it runs).
    fn control(&self, job_id: &str) -> impl Future<Output = Result<Option<Control>, JobError>> + Send;
}

pub trait ControlWrite: Send + Sync {
    /// Writes the control if the stored one is still at `expected` (0: none
    /// stored yet); false when someone else wrote in between.
    fn put_control(&self, control: &Control, expected: u64) -> impl Future<Output = Result<bool, JobError>> + Send;
}
