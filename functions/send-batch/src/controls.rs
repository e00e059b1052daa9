//! Operator controls: stop, pause, resume or throttle a job. The CLI and the
//! approval function invoke send-batch synchronously with
//! `{"control": {"job_id", "action", "by", "reason", "rate_per_second"}}`,
//! so that one piece of code, with the function's permissions, sets the
//! control record and wakes the links that must act on it. Refusals (an
//! unknown job, a finished one, a bad rate) are answers, not errors: they
//! are the caller's mistakes and must not page anyone.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::chain::Continuation;
use shared::clock::now_ms;
use shared::jobs::{
    Control, ControlRead, ControlState, ControlWrite, JobRead, JobRecord, JobStatus, part_id, shard_id,
};
use shared::schedules::{ScheduleJobs, schedule_name};

use crate::deps::Ports;
use crate::link::{Link, LinkError, invoke_next};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ControlEvent {
    pub control: ControlRequest,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ControlRequest {
    pub job_id: String,
    pub action: Action,
    /// Who asks: the CLI's caller identity, or the approver.
    pub by: String,
    #[serde(default)]
    pub reason: Option<String>,
    /// For `throttle`: users per second, or none to lift the cap.
    #[serde(default)]
    pub rate_per_second: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Stop,
    Pause,
    Resume,
    Throttle,
}

/// Why a control was not applied; the message names the job or the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("there is no job {0}")]
    UnknownJob(String),
    #[error("{0} is a shard: control its job, {1}")]
    Shard(String, String),
    #[error("job {job_id} is already {status}: there is nothing to control")]
    Finished { job_id: String, status: &'static str },
    #[error("job {0} is stopped: it cannot be paused, resumed or throttled")]
    Stopped(String),
    #[error("`rate_per_second` must be a number above 0 (or absent, to lift the cap), got {0}")]
    BadRate(f64),
    #[error("`by` must name who asks")]
    NoIdentity,
}

/// How many times a control write is tried against concurrent writers.
const WRITE_ATTEMPTS: usize = 8;

/// Applies the request; the answer is the control now in force, or why not.
pub async fn apply<P: Ports>(ports: &P, link: &Link, request: ControlRequest) -> Result<Value, LinkError> {
    Ok(match apply_checked(ports, link, &request).await? {
        Ok((control, record, woken)) => json!({"control": {
            "job_id": control.job_id,
            "state": control.state,
            "rate_per_second": control.rate_per_second,
            "by": control.by,
            "reason": control.reason,
            "status": record.status,
            "links_woken": woken,
        }}),
        Err(refusal) => {
            tracing::warn!(job_id = request.job_id, action = ?request.action, reason = %refusal, "control refused");
            json!({"refused": {"job_id": request.job_id, "reason": refusal.to_string()}})
        }
    })
}

type Applied = (Control, JobRecord, u32);

async fn apply_checked<P: Ports>(
    ports: &P,
    link: &Link,
    request: &ControlRequest,
) -> Result<Result<Applied, Refusal>, LinkError> {
    if request.by.trim().is_empty() {
        return Ok(Err(Refusal::NoIdentity));
    }
    if let (Action::Throttle, Some(rate)) = (request.action, request.rate_per_second)
        && !(rate.is_finite() && rate > 0.0)
    {
        return Ok(Err(Refusal::BadRate(rate)));
    }
    let Some(record) = ports.jobs().get(&request.job_id).await? else {
        return Ok(Err(Refusal::UnknownJob(request.job_id.clone())));
    };
    if let Some(of) = &record.shard {
        return Ok(Err(Refusal::Shard(request.job_id.clone(), of.parent.clone())));
    }
    if record.status.is_terminal() {
        return Ok(Err(Refusal::Finished { job_id: record.job_id, status: record.status.as_str() }));
    }
    let control = match write(ports, request).await? {
        Ok(control) => control,
        Err(refusal) => return Ok(Err(refusal)),
    };
    tracing::info!(
        job_id = control.job_id,
        state = control.state.as_str(),
        rate = control.rate_per_second,
        by = control.by,
        "control set"
    );
    let woken = match control.state {
        ControlState::Stopped => {
            if record.status == JobStatus::Scheduled {
                ports.schedules().delete(&schedule_name(&record.job_id)).await?;
            }
            // Every link that is not running now must still finish as stopped.
            wake(ports, link, &record, true).await?
        }
        ControlState::Running if request.action == Action::Resume => wake(ports, link, &record, false).await?,
        _ => 0,
    };
    Ok(Ok((control, record, woken)))
}

/// Reads, changes and writes the control, conditional on its version.
async fn write<P: Ports>(ports: &P, request: &ControlRequest) -> Result<Result<Control, Refusal>, LinkError> {
    for _ in 0..WRITE_ATTEMPTS {
        let current = ports.jobs().control(&request.job_id).await?.unwrap_or_else(|| Control::initial(&request.job_id));
        if current.state == ControlState::Stopped {
            if request.action == Action::Stop {
                return Ok(Ok(current));
            }
            return Ok(Err(Refusal::Stopped(request.job_id.clone())));
        }
        let mut next = Control {
            by: request.by.clone(),
            reason: request.reason.clone(),
            at_ms: now_ms(),
            version: current.version + 1,
            ..current.clone()
        };
        match request.action {
            Action::Stop => next.state = ControlState::Stopped,
            Action::Pause => next.state = ControlState::Paused,
            Action::Resume => next.state = ControlState::Running,
            Action::Throttle => next.rate_per_second = request.rate_per_second,
        }
        if ports.jobs().put_control(&next, current.version).await? {
            return Ok(Ok(next));
        }
    }
    Err(LinkError::ControlContended { job_id: request.job_id.clone(), attempts: WRITE_ATTEMPTS })
}

/// Invokes the current link of every chain of the job that nobody runs now
/// (released at a pause, scheduled, or held by an invocation that died),
/// so that it acts on the control. A chain that is running sees the
/// control before its next batch; a duplicate invocation loses its claim.
async fn wake<P: Ports>(ports: &P, link: &Link, job: &JobRecord, scheduled_too: bool) -> Result<u32, LinkError> {
    let now = now_ms();
    let mut records = Vec::new();
    match (&job.shards, &job.parts) {
        (Some(set), _) => {
            for index in 0..set.count() {
                if let Some(r) = ports.jobs().get(&shard_id(&job.job_id, index)).await? {
                    records.push(r);
                }
            }
        }
        (None, Some(parts)) if parts.main_done => {}
        (None, _) => records.push(job.clone()),
    }
    // A job waiting for its deferred parts: the parts are its chains.
    if let Some(parts) = &job.parts {
        for at in parts.pending() {
            if let Some(r) = ports.jobs().get(&part_id(&job.job_id, at)).await? {
                if r.status == JobStatus::Scheduled && scheduled_too {
                    ports.schedules().delete(&schedule_name(&r.job_id)).await?;
                }
                records.push(r);
            }
        }
    }
    let mut woken = 0;
    for r in records {
        let idle = r.owner.is_none() || r.lease_until_ms <= now;
        let wakeable = match r.status {
            JobStatus::Running => true,
            JobStatus::Scheduled => scheduled_too,
            _ => false,
        };
        if idle && wakeable {
            invoke_next(ports, link, &Continuation::of(&r)).await?;
            woken += 1;
        }
    }
    Ok(woken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_as_the_cli_sends_them() {
        let e: ControlEvent = serde_json::from_value(json!({"control": {
            "job_id": "j", "action": "throttle", "by": "ops@example.com", "rate_per_second": 2000}}))
        .unwrap();
        assert_eq!(e.control.action, Action::Throttle);
        assert_eq!(e.control.rate_per_second, Some(2000.0));
        assert!(
            serde_json::from_value::<ControlEvent>(json!({"control": {"job_id": "j", "action": "explode", "by": "x"}}))
                .is_err()
        );
    }
}
