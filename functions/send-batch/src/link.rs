//! A link's vocabulary: what started it, what it may fail with, what it did,
//! and how it starts the next one.

use std::fmt;

use lambda_runtime::Diagnostic;
use serde::{Serialize, Serializer};
use shared::caps::CapError;
use shared::chain::{Continuation, ContinuationEvent};
use shared::clock::ClockError;
use shared::devices::DeviceError;
use shared::errors::Chain;
use shared::invoke::{InvokeAsync, InvokeError};
use shared::jobs::{JobError, JobStatus};
use shared::objects::ObjectError;
use shared::quota::QuotaError;
use shared::schedules::ScheduleError;

use crate::deps::Ports;

/// What started this invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    Upload { bucket: String, key: String, etag: String, sequencer: String },
    Continue(Continuation),
}

/// About this invocation.
pub struct Link {
    pub function: String,
    /// The function schedules invoke: this one (its ARN, or
    /// `SCHEDULE_TARGET_ARN`).
    pub function_arn: String,
    pub deadline_ms: u64,
    pub request_id: String,
}

/// Failures that end this invocation with an error, so that Lambda retries
/// it; the retry resumes from the last checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("unrecognised event: expected an S3 ObjectCreated event, {{\"continue\": ...}} or {{\"control\": ...}}")]
    BadEvent(#[source] serde_json::Error),
    #[error("unrecognised event: an S3 event with no records")]
    NoRecords,
    #[error(transparent)]
    Jobs(#[from] JobError),
    #[error(transparent)]
    Objects(#[from] ObjectError),
    #[error(transparent)]
    Devices(#[from] DeviceError),
    #[error(transparent)]
    Caps(#[from] CapError),
    #[error(transparent)]
    Clock(#[from] ClockError),
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    #[error("reading the batch file")]
    Read(#[source] std::io::Error),
    #[error("job {0} has no layout in its record")]
    NoLayout(String),
    #[error("link {seq} of job {job_id} is held by a live invocation whose lease outlasts this one")]
    LeaseHeld { job_id: String, seq: u64 },
    #[error("job {0} has no shards to start")]
    NotSharded(String),
    #[error("shard {shard} could not be rolled into job {job_id}: {attempts} conditional writes lost to other shards")]
    RollUpContended { job_id: String, shard: String, attempts: usize },
    #[error("the job's rate bucket")]
    Rate(#[source] QuotaError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error("the control of job {job_id} kept changing under {attempts} conditional writes")]
    ControlContended { job_id: String, attempts: usize },
}

impl From<crate::audience::AudienceError> for LinkError {
    fn from(e: crate::audience::AudienceError) -> Self {
        match e {
            crate::audience::AudienceError::Devices(e) => LinkError::Devices(e),
            crate::audience::AudienceError::Caps(e) => LinkError::Caps(e),
        }
    }
}

impl LinkError {
    /// The kind of failure, as Lambda's logs and the on-failure queue show it.
    pub fn error_type(&self) -> &'static str {
        match self {
            LinkError::BadEvent(_) | LinkError::NoRecords => "BadEvent",
            LinkError::Jobs(JobError::Dynamo(_)) => "JobsTableUnavailable",
            LinkError::Jobs(JobError::Corrupt { .. } | JobError::Encode { .. }) | LinkError::NoLayout(_) => {
                "CorruptJobRecord"
            }
            LinkError::Objects(_) | LinkError::Read(_) => "BucketUnavailable",
            LinkError::Devices(_) => "DevicesTableUnavailable",
            LinkError::Caps(_) => "CapsTableUnavailable",
            LinkError::Clock(_) => "ClockUnreadable",
            LinkError::Invoke(_) => "ContinuationNotInvoked",
            LinkError::LeaseHeld { .. } => "LinkHeldElsewhere",
            LinkError::NotSharded(_) => "NotSharded",
            LinkError::RollUpContended { .. } => "RollUpContended",
            LinkError::Rate(_) => "RateBucketUnavailable",
            LinkError::Schedule(_) => "SchedulerUnavailable",
            LinkError::ControlContended { .. } => "ControlContended",
        }
    }
}

impl From<LinkError> for Diagnostic {
    fn from(e: LinkError) -> Self {
        Diagnostic { error_type: e.error_type().into(), error_message: Chain(&e).to_string() }
    }
}

/// What one link did, as the handler answers it.
#[derive(Debug, Clone, Serialize)]
pub struct LinkResult {
    pub job_id: String,
    pub seq: u64,
    #[serde(serialize_with = "as_text")]
    pub outcome: LinkOutcome,
    pub batches: u64,
    pub entries: u64,
    /// Time this link spent on its batches, as the job record counts it.
    pub busy_ms: u64,
}

impl LinkResult {
    pub fn new(job_id: &str, seq: u64, outcome: LinkOutcome) -> Self {
        Self { job_id: job_id.into(), seq, outcome, batches: 0, entries: 0, busy_ms: 0 }
    }
}

/// How a link ended when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkOutcome {
    /// Sent until the time ran low, then invoked link `next`.
    HandedOff { next: u64 },
    /// Sent to the end (or to a broken entry) and finished the job.
    Finished(JobStatus),
    /// The job ended at its creation (file changed, malformed, too big).
    EndedBeforeSending { status: JobStatus, reason: String },
    /// The job waits for its `send_at`.
    Scheduled { at_ms: i64 },
    /// The control said pause: the link let go at its checkpoint.
    Paused { by: String },
    /// The file is read; users due later wait for the job's parts.
    Deferred { parts: u32 },
    /// A deferred part finished; the job waits for the others.
    PartWaiting { status: JobStatus, pending: u32 },
    /// The last deferred part finished its job.
    PartFinishedJob { status: JobStatus, job: JobStatus },
    /// A shard finished; the job waits for the others.
    ShardWaiting { status: JobStatus, finished: u32, of: u32 },
    /// A shard finished last and finished its job.
    ShardFinishedJob { status: JobStatus, job: JobStatus },
    /// A shard finished after its job had (a retry).
    ShardAfterJob { status: JobStatus },
    /// The first link cut the file and started the shards.
    FannedOut { shards: u32, started: u32 },
    /// The chain had moved on with nobody at the next link: invoked it again.
    ResentContinuation,
    /// Another invocation took the link from under this one.
    LostClaim,
    /// Nothing to do.
    Ignored(String),
}

impl fmt::Display for LinkOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkOutcome::HandedOff { next } => write!(f, "handed off to link {next}"),
            LinkOutcome::Finished(status) => f.write_str(status.as_str()),
            LinkOutcome::EndedBeforeSending { status, reason } => write!(f, "{}: {reason}", status.as_str()),
            LinkOutcome::Scheduled { at_ms } => match chrono::DateTime::from_timestamp_millis(*at_ms) {
                Some(at) => write!(f, "scheduled for {}", at.to_rfc3339()),
                None => write!(f, "scheduled for {at_ms} ms after the epoch"),
            },
            LinkOutcome::Paused { by } => write!(f, "paused by {by}"),
            LinkOutcome::Deferred { parts } => write!(f, "read to the end; waiting for {parts} deferred parts"),
            LinkOutcome::PartWaiting { status, pending } => {
                write!(f, "part {}: {pending} parts still pending", status.as_str())
            }
            LinkOutcome::PartFinishedJob { status, job } => write!(f, "part {}; job {}", status.as_str(), job.as_str()),
            LinkOutcome::ShardWaiting { status, finished, of } => {
                write!(f, "shard {}: {finished} of {of} shards finished", status.as_str())
            }
            LinkOutcome::ShardFinishedJob { status, job } => {
                write!(f, "shard {}; job {}", status.as_str(), job.as_str())
            }
            LinkOutcome::ShardAfterJob { status } => write!(f, "shard {}; job already finished", status.as_str()),
            LinkOutcome::FannedOut { shards, started } => {
                write!(f, "fanned out to {shards} shards ({started} started now)")
            }
            LinkOutcome::ResentContinuation => f.write_str("resent continuation"),
            LinkOutcome::LostClaim => f.write_str("stopped: lost the claim to another invocation"),
            LinkOutcome::Ignored(why) => write!(f, "ignored: {why}"),
        }
    }
}

fn as_text<S: Serializer>(outcome: &LinkOutcome, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(outcome)
}

/// Queues the link a continuation names.
pub async fn invoke_next<P: Ports>(ports: &P, link: &Link, next: &Continuation) -> Result<(), LinkError> {
    let payload = ContinuationEvent { next: next.clone() }.to_json();
    ports.invoker().invoke_async(&link.function, payload).await?;
    Ok(())
}
