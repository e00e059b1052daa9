//! How a link ends: handing on to the next link, pausing at a checkpoint,
//! or finishing the job (or its shard) as done, failed, aborted or stopped.

use shared::chain::Continuation;
use shared::clock::now_ms;
use shared::jobs::{Control, ControlRead, ControlState, JobRecord, JobStatus, JobWrite, StopNote};

use crate::deps::Ports;
use crate::fanout::{self, RolledUp};
use crate::link::{Link, LinkError, LinkOutcome, LinkResult, invoke_next};
use crate::parts::{self, PartRolledUp};
use crate::reports;

/// What this link has sent so far, for its result.
pub struct Sent {
    pub job_id: String,
    pub seq: u64,
    pub batches: u64,
    pub entries: u64,
    pub busy_ms: u64,
}

impl Sent {
    pub fn ended(self, outcome: LinkOutcome) -> LinkResult {
        let Sent { job_id, seq, batches, entries, busy_ms } = self;
        LinkResult { job_id, seq, outcome, batches, entries, busy_ms }
    }
}

/// Adds what this invocation used since it was last charged (Lambda time,
/// S3 requests, DynamoDB units) to the record it holds, before the write.
/// What a link uses after its last write (handing on, flushing metrics) is
/// a few milliseconds and goes uncharged.
pub fn charge(record: &mut JobRecord) {
    record.usage.add(&shared::cost::meter::take());
}

/// Saves progress; false when another invocation has taken the link.
pub async fn checkpoint<P: Ports>(ports: &P, record: &mut JobRecord) -> Result<bool, LinkError> {
    let expected = record.version;
    let now = now_ms();
    record.version += 1;
    record.updated_at_ms = now;
    record.lease_until_ms = now + ports.settings().lease.as_millis() as i64;
    charge(record);
    Ok(ports.jobs().replace(record, expected).await?)
}

pub async fn hand_off<P: Ports>(
    ports: &P,
    link: &Link,
    mut record: JobRecord,
    out: Sent,
) -> Result<LinkResult, LinkError> {
    let expected = record.version;
    record.seq += 1;
    record.owner = None;
    record.version += 1;
    record.updated_at_ms = now_ms();
    charge(&mut record);
    if !ports.jobs().replace(&record, expected).await? {
        return Ok(out.ended(LinkOutcome::LostClaim));
    }
    let next = Continuation::of(&record);
    invoke_next(ports, link, &next).await?;
    tracing::info!(job_id = record.job_id, seq = next.seq, offset = next.offset, "handed on to the next link");
    Ok(out.ended(LinkOutcome::HandedOff { next: next.seq }))
}

pub async fn finish<P: Ports>(
    ports: &P,
    link: &Link,
    mut record: JobRecord,
    status: JobStatus,
    reason: Option<String>,
    out: Sent,
) -> Result<LinkResult, LinkError> {
    let expected = record.version;
    record.status = status;
    record.reason = reason.clone();
    if let (Some(shard), JobStatus::Failed) = (&record.shard, status) {
        let reason = reason.as_deref().unwrap_or("failed");
        record.reason = Some(format!("{reason}; the rest of this shard, up to byte {}, was not sent", shard.end));
    }
    record.owner = None;
    record.version += 1;
    record.updated_at_ms = now_ms();
    if record.shard.is_some() {
        return finish_shard(ports, link, record, expected, out).await;
    }
    if record.part.is_some() {
        return finish_part(ports, record, expected, out).await;
    }
    // Read to the end, with users due later: the job waits for its parts.
    if status == JobStatus::Done && record.counters.deferred > 0 && record.parts.is_none() {
        record.parts = Some(parts::start(ports, link, &record).await?);
        record.status = JobStatus::Running;
        charge(&mut record);
        if !ports.jobs().replace(&record, expected).await? {
            return Ok(out.ended(LinkOutcome::LostClaim));
        }
        let pending = record.parts.as_ref().map_or(0, |p| p.pending().len() as u32);
        tracing::info!(
            job_id = record.job_id,
            parts = pending,
            deferred = record.counters.deferred,
            "waiting for deferred parts"
        );
        return Ok(out.ended(LinkOutcome::Deferred { parts: pending }));
    }
    // The summary first: if we crash before the record says done, the retry
    // takes over at the end of the file and writes it again, identically.
    charge(&mut record);
    reports::write_summary(ports, &record).await?;
    if !ports.jobs().replace(&record, expected).await? {
        return Ok(out.ended(LinkOutcome::LostClaim));
    }
    log_finished(&record);
    Ok(out.ended(LinkOutcome::Finished(status)))
}

/// A shard's end: its counters go into the job first (see
/// `fanout::roll_up`), then its own record says it is finished.
async fn finish_shard<P: Ports>(
    ports: &P,
    link: &Link,
    mut record: JobRecord,
    expected: u64,
    out: Sent,
) -> Result<LinkResult, LinkError> {
    // Charged first: what the shard used goes into its job with its counters.
    charge(&mut record);
    let rolled = fanout::roll_up(ports, link, &record).await?;
    if !ports.jobs().replace(&record, expected).await? {
        return Ok(out.ended(LinkOutcome::LostClaim));
    }
    let d = record.counters.total_devices();
    tracing::info!(
        job_id = record.job_id,
        status = record.status.as_str(),
        reason = record.reason,
        entries = record.counters.entries,
        delivered = d.delivered,
        invocations = record.invocations,
        "shard finished"
    );
    let status = record.status;
    Ok(out.ended(match rolled {
        RolledUp::Waiting { finished, of } => LinkOutcome::ShardWaiting { status, finished, of },
        RolledUp::Finished(job) => {
            log_finished(&job);
            LinkOutcome::ShardFinishedJob { status, job: job.status }
        }
        RolledUp::AlreadyFinished => LinkOutcome::ShardAfterJob { status },
        RolledUp::Deferred { parts } => LinkOutcome::Deferred { parts },
    }))
}

/// A deferred part's end: into its job first, then its own record.
async fn finish_part<P: Ports>(
    ports: &P,
    mut record: JobRecord,
    expected: u64,
    out: Sent,
) -> Result<LinkResult, LinkError> {
    charge(&mut record);
    let rolled = parts::roll_up(ports, &record).await?;
    if !ports.jobs().replace(&record, expected).await? {
        return Ok(out.ended(LinkOutcome::LostClaim));
    }
    let status = record.status;
    Ok(out.ended(match rolled {
        PartRolledUp::Waiting { pending } => LinkOutcome::PartWaiting { status, pending: pending as u32 },
        PartRolledUp::Finished(job) => {
            log_finished(&job);
            LinkOutcome::PartFinishedJob { status, job: job.status }
        }
        PartRolledUp::AlreadyFinished => LinkOutcome::ShardAfterJob { status },
    }))
}

fn log_finished(record: &JobRecord) {
    let status = record.status;
    let reason = record.reason.clone();
    if let Err(broken) = record.counters.check_identities() {
        tracing::error!(job_id = record.job_id, ?broken, "accounting identities do not hold");
    }
    let d = record.counters.total_devices();
    tracing::info!(
        job_id = record.job_id,
        status = status.as_str(),
        reason,
        entries = record.counters.entries,
        delivered = d.delivered,
        pruned = d.pruned,
        failed = d.failed,
        invocations = record.invocations,
        shards = record.shards.as_ref().map(|s| s.count()),
        "job finished"
    );
}

/// The control says stop: the job (or this shard) ends `stopped`, naming
/// who stopped it and the first entry that was not sent.
pub async fn stop<P: Ports>(
    ports: &P,
    link: &Link,
    mut record: JobRecord,
    control: &Control,
    out: Sent,
) -> Result<LinkResult, LinkError> {
    let reason = match &control.reason {
        Some(why) => format!("stopped by {}: {why}", control.by),
        None => format!("stopped by {}", control.by),
    };
    tracing::warn!(job_id = record.job_id, by = control.by, offset = record.offset, "{reason}");
    record.stop = Some(StopNote {
        by: control.by.clone(),
        reason: control.reason.clone(),
        at_ms: control.at_ms,
        offset: record.offset,
    });
    finish(ports, link, record, JobStatus::Stopped, Some(reason), out).await
}

/// The control says pause: the link lets go of the job at its checkpoint
/// and ends; `resume` invokes the next link. A resume (or a stop) that
/// landed while the link let go would find it still held and leave it
/// alone, so the link reads the control once more after letting go, and
/// hands on itself if the job is no longer paused.
pub async fn pause<P: Ports>(
    ports: &P,
    link: &Link,
    mut record: JobRecord,
    control: &Control,
    out: Sent,
) -> Result<LinkResult, LinkError> {
    let expected = record.version;
    record.owner = None;
    record.version += 1;
    record.updated_at_ms = now_ms();
    charge(&mut record);
    if !ports.jobs().replace(&record, expected).await? {
        return Ok(out.ended(LinkOutcome::LostClaim));
    }
    tracing::info!(job_id = record.job_id, by = control.by, offset = record.offset, "paused at the checkpoint");
    let now = ports.jobs().control(record.report_job_id()).await?;
    if now.is_some_and(|c| c.state != ControlState::Paused) {
        invoke_next(ports, link, &Continuation::of(&record)).await?;
    }
    Ok(out.ended(LinkOutcome::Paused { by: control.by.clone() }))
}
