//! Sharded jobs: the cut at a job's first link, starting the shards, and
//! each shard's roll-up into the job when it finishes.

use shared::batch::{Encoding, Layout};
use shared::chain::Continuation;
use shared::clock::now_ms;
use shared::jobs::{JobError, JobRead, JobRecord, JobStatus, JobWrite, ShardSet, shard_id};
use shared::objects::ObjectRead;
use shared::shards::{self, FileRef, shard_record};

use crate::deps::Ports;
use crate::link::{Link, LinkError, LinkOutcome, LinkResult, invoke_next};
use crate::parts;
use crate::reports;

/// Conditional writes to the job's record race only the job's other
/// shards finishing; this many rounds is far more than K shards need.
const ROLL_UP_ATTEMPTS: usize = 64;

/// How to cut a JSONL file from `start` on into shards, or None to send it
/// as one chain:
/// the policy's shard count from the file's size and a sample of its
/// entries, then a few ranged reads to move each cut to a line start.
/// A `.json` file is never cut: its entries can only be found by reading
/// the array from the start.
pub async fn plan<P: Ports>(
    ports: &P,
    record: &JobRecord,
    layout: &Layout,
    start: u64,
) -> Result<Option<ShardSet>, LinkError> {
    let policy = &ports.settings().shards;
    if layout.encoding != Encoding::Jsonl || !layout.has_users || policy.max_shards <= 1 {
        return Ok(None);
    }
    let file = FileRef { bucket: &record.bucket, key: &record.key, etag: &record.etag };
    let size = ports.objects().head(file.bucket, file.key).await?.size;
    let body = size.saturating_sub(start);
    if body < policy.min_bytes {
        return Ok(None);
    }
    let bytes_per_user = shards::bytes_per_line(ports.objects(), &file, start).await?;
    // No line ends in the sample: entries are huge, so the file has few.
    let count = policy.shard_count(body, bytes_per_user.unwrap_or(body as f64));
    if count < 2 {
        return Ok(None);
    }
    let bounds = shards::cut(ports.objects(), &file, start, size, count).await?;
    Ok((bounds.len() > 2).then(|| ShardSet::new(bounds)))
}

/// A job that so far ran as one chain: at its start after a `send_at`, or
/// past its canary.
pub enum Resharded {
    /// Cut into shards, which now run; this link's part is over.
    Sharded(LinkResult),
    /// Small enough for one chain: the link goes on with it.
    Single(Box<JobRecord>),
}

/// Cuts what is left of a job held by this link into shards, when it is big
/// enough, and starts them.
pub async fn reshard<P: Ports>(ports: &P, link: &Link, mut record: JobRecord) -> Result<Resharded, LinkError> {
    let layout = record.layout.clone().ok_or_else(|| LinkError::NoLayout(record.job_id.clone()))?;
    let Some(set) = plan(ports, &record, &layout, record.offset).await? else {
        return Ok(Resharded::Single(Box::new(record)));
    };
    let expected = record.version;
    record.shards = Some(set);
    record.owner = None;
    record.lease_until_ms = 0;
    record.version += 1;
    record.updated_at_ms = now_ms();
    if !ports.jobs().replace(&record, expected).await? {
        return Ok(Resharded::Sharded(LinkResult::new(&record.job_id, record.seq, LinkOutcome::LostClaim)));
    }
    Ok(Resharded::Sharded(start(ports, link, &record).await?))
}

/// Starts every shard that has not started: creates its record and invokes
/// its first link. Run by the planner, and again by a repeated upload event
/// so that a planner that died mid-way loses no shard. A shard already
/// taken by a link is left alone; a duplicate start of a fresh one is
/// settled by the shard's own claim.
pub async fn start<P: Ports>(ports: &P, link: &Link, parent: &JobRecord) -> Result<LinkResult, LinkError> {
    let Some(set) = &parent.shards else { return Err(LinkError::NotSharded(parent.job_id.clone())) };
    let mut started = 0;
    for index in 0..set.count() {
        let id = shard_id(&parent.job_id, index);
        let record = match ports.jobs().get(&id).await? {
            Some(r) => r,
            None => {
                let Some(fresh) = shard_record(parent, index, now_ms()) else { continue };
                if !ports.jobs().create(&fresh).await? {
                    continue;
                }
                fresh
            }
        };
        let unstarted = record.status == JobStatus::Running && record.invocations == 0 && record.owner.is_none();
        if !unstarted {
            continue;
        }
        invoke_next(ports, link, &Continuation::of(&record)).await?;
        started += 1;
        tracing::info!(job_id = parent.job_id, shard = index, offset = record.offset, "shard started");
    }
    tracing::info!(job_id = parent.job_id, shards = set.count(), started, "job fanned out");
    Ok(LinkResult::new(&parent.job_id, 0, LinkOutcome::FannedOut { shards: set.count(), started }))
}

/// What finishing a shard did to its job.
pub enum RolledUp {
    /// Other shards are still running.
    Waiting { finished: u32, of: u32 },
    /// This shard completed the set: the job is finished.
    Finished(Box<JobRecord>),
    /// The job was finished already (a retry of the last shard).
    AlreadyFinished,
    /// Every shard finished; the job now waits for its deferred parts.
    Deferred { parts: u32 },
}

/// Adds a finished shard into its job (once, whatever the retries), and
/// when it is the last, writes the summary and finishes the job. Runs
/// before the shard's own final write: a shard that dies in between is
/// taken over at its end offset and rolls up again, which counts nothing
/// twice.
pub async fn roll_up<P: Ports>(ports: &P, link: &Link, shard: &JobRecord) -> Result<RolledUp, LinkError> {
    let parent_id = shard.report_job_id().to_owned();
    for _ in 0..ROLL_UP_ATTEMPTS {
        let Some(mut parent) = ports.jobs().get(&parent_id).await? else {
            return Err(
                JobError::Corrupt { job_id: shard.job_id.clone(), message: "its job has no record".into() }.into()
            );
        };
        if parent.status.is_terminal() {
            return Ok(RolledUp::AlreadyFinished);
        }
        let expected = parent.version;
        let added = shards::roll_up(&mut parent, shard);
        let Some(set) = &parent.shards else {
            return Err(JobError::Corrupt { job_id: parent_id, message: "a shard's job is not sharded".into() }.into());
        };
        let complete = set.is_complete();
        if !added && !complete {
            let finished = set.finished.len() as u32;
            return Ok(RolledUp::Waiting { finished, of: set.count() });
        }
        if complete {
            let (status, reason) = set.outcome();
            parent.status = status;
            parent.reason = reason;
            parent.offset = set.bounds.last().copied().unwrap_or(parent.offset);
        }
        // Every shard read its range, and some users are due later: the job
        // waits for its deferred parts instead of finishing.
        let deferring = complete && parent.status == JobStatus::Done && parent.counters.deferred > 0;
        if deferring && parent.parts.is_none() {
            parent.parts = Some(parts::start(ports, link, &parent).await?);
            parent.status = JobStatus::Running;
        }
        parent.version += 1;
        parent.updated_at_ms = now_ms();
        if deferring {
            if ports.jobs().replace(&parent, expected).await? {
                let pending = parent.parts.as_ref().map_or(0, |p| p.pending().len() as u32);
                return Ok(RolledUp::Deferred { parts: pending });
            }
            continue;
        }
        if complete {
            // As for a single chain: the summary first, so a crash before
            // the record says done leaves a retry that writes it again.
            reports::write_summary(ports, &parent).await?;
        }
        if ports.jobs().replace(&parent, expected).await? {
            return Ok(match &parent.shards {
                Some(set) if !complete => RolledUp::Waiting { finished: set.finished.len() as u32, of: set.count() },
                _ => RolledUp::Finished(Box::new(parent)),
            });
        }
    }
    Err(LinkError::RollUpContended { job_id: parent_id, shard: shard.job_id.clone(), attempts: ROLL_UP_ATTEMPTS })
}
