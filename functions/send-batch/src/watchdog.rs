//! The watchdog: once a minute (a schedule in template.yaml invokes
//! send-batch with `{"watchdog": {}}`) it reads every unfinished job and
//! publishes the oldest checkpoint among their running chains. A link that
//! was killed and not retried publishes nothing about itself, so its
//! silence has to be seen from outside: its record's checkpoint grows old.
//! Paused and scheduled jobs are waiting on purpose and are left out.

use std::time::Duration;

use serde_json::{Value, json};
use shared::jobs::{ControlRead, ControlState, JobRead, JobRecord, JobStatus, LiveJobs, part_id, shard_id};

use crate::deps::Ports;
use crate::link::LinkError;

/// A running chain whose checkpoint is older than the lease and its margin.
#[derive(Debug, Clone, PartialEq)]
pub struct Stuck {
    pub job_id: String,
    pub seq: u64,
    pub age: Duration,
}

/// What one look found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reading {
    pub running_chains: u32,
    pub oldest: Option<Duration>,
    pub stuck: Vec<Stuck>,
}

pub async fn look<P: Ports>(ports: &P, now_ms: i64) -> Result<Reading, LinkError> {
    let settings = ports.settings();
    // A live holder checkpoints at least once a lease; between links a
    // queued continuation is picked up in seconds. Past the lease and the
    // hand-off margin, nobody is coming.
    let limit = settings.lease + settings.margin_floor;
    let mut reading = Reading::default();
    for job in ports.jobs().live_jobs().await? {
        if job.status != JobStatus::Running {
            continue;
        }
        let paused = ports.jobs().control(&job.job_id).await?.is_some_and(|c| c.state != ControlState::Running);
        if paused {
            continue;
        }
        for chain in chains(ports, &job).await? {
            let age = Duration::from_millis((now_ms - chain.updated_at_ms).max(0) as u64);
            reading.running_chains += 1;
            reading.oldest = reading.oldest.max(Some(age));
            if age > limit {
                reading.stuck.push(Stuck { job_id: chain.job_id.clone(), seq: chain.seq, age });
            }
        }
    }
    Ok(reading)
}

/// The job's running chains: its shards, or its deferred parts that are
/// running (a scheduled part waits on purpose), or itself.
async fn chains<P: Ports>(ports: &P, job: &JobRecord) -> Result<Vec<JobRecord>, LinkError> {
    let ids: Vec<String> = match (&job.shards, &job.parts) {
        (_, Some(parts)) if parts.main_done => parts.pending().into_iter().map(|at| part_id(&job.job_id, at)).collect(),
        (Some(set), _) => (0..set.count()).map(|i| shard_id(&job.job_id, i)).collect(),
        (None, _) => return Ok(vec![job.clone()]),
    };
    let mut out = Vec::new();
    for id in ids {
        if let Some(chain) = ports.jobs().get(&id).await?
            && chain.status == JobStatus::Running
        {
            out.push(chain);
        }
    }
    Ok(out)
}

/// Runs a look, logs every stuck chain, publishes the oldest checkpoint.
pub async fn run<P: Ports>(ports: &P, now_ms: i64) -> Result<Value, LinkError> {
    let reading = look(ports, now_ms).await?;
    for s in &reading.stuck {
        tracing::error!(
            job_id = s.job_id,
            seq = s.seq,
            age_s = s.age.as_secs(),
            "a running chain has not checkpointed for longer than its lease: its link died and was not retried"
        );
    }
    shared::metrics::oldest_checkpoint(reading.oldest);
    Ok(json!({"watchdog": {
        "running_chains": reading.running_chains,
        "oldest_checkpoint_seconds": reading.oldest.map(|d| d.as_secs_f64()),
        "stuck": reading.stuck.iter().map(|s| json!({"job_id": s.job_id, "seq": s.seq, "age_seconds": s.age.as_secs()})).collect::<Vec<_>>(),
    }}))
}
