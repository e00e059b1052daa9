//! Who runs a link: creating a job from its upload, claiming a link that
//! nobody holds, taking over one whose holder died, or standing aside.

use std::time::Duration;

use rand::RngExt;
use shared::batch::{Encoding, ReadError, discover};
use shared::chain::{Decision, TimeBudget, decide, job_id};
use shared::clock::now_ms;
use shared::jobs::{JobRead, JobRecord, JobStatus, JobWrite};
use shared::objects::{ObjectError, ObjectRead};
use shared::render::Renderer;

use crate::deps::Ports;
use crate::fanout;
use crate::link::{Link, LinkError, LinkOutcome, LinkResult, Trigger, invoke_next};
use crate::reports;

/// What claiming came to.
pub enum Claimed {
    /// This invocation holds the link: send from the record's offset.
    Link(Box<JobRecord>, TimeBudget),
    /// Nothing to send here; the link's result says why.
    Done(LinkResult),
}

/// Claims the link `trigger` names, waiting out a live holder's lease when
/// that holder may have died.
pub async fn claim<P: Ports>(ports: &P, link: &Link, trigger: Trigger) -> Result<Claimed, LinkError> {
    let (job, seq, from_s3, bucket, key, etag) = match trigger {
        Trigger::Upload { bucket, key, etag, sequencer } => {
            (job_id(&bucket, &key, &etag, &sequencer), 0, true, bucket, key, etag)
        }
        Trigger::Continue(c) => (c.job_id, c.seq, false, c.bucket, c.key, c.etag),
    };
    let me = format!("{}/{}", link.request_id, uuid::Uuid::new_v4().simple());
    let settings = ports.settings();
    let budget = TimeBudget::new(link.deadline_ms, now_ms() as u64, settings.max_run, settings.margin_floor);
    let lease_ms = settings.lease.as_millis() as i64;
    let done = |outcome| Ok(Claimed::Done(LinkResult::new(&job, seq, outcome)));

    let mut waited_on = None;
    loop {
        let now = now_ms();
        let current = ports.jobs().get(&job).await?;
        match decide(current.as_ref(), seq, from_s3, now) {
            Decision::Create => match create(ports, &job, &me, &bucket, &key, &etag, lease_ms).await? {
                NewJob::Running(r) => return Ok(Claimed::Link(r, budget)),
                NewJob::Sharded(parent) => return Ok(Claimed::Done(fanout::start(ports, link, &parent).await?)),
                NewJob::Ended { status, reason } => return done(LinkOutcome::EndedBeforeSending { status, reason }),
                NewJob::Gone => return done(LinkOutcome::Ignored("the object no longer exists".into())),
                NewJob::Lost => continue,
            },
            Decision::Take { version } => {
                let Some(mut r) = current else { continue };
                if r.owner.is_some() {
                    tracing::warn!(
                        job_id = job,
                        seq,
                        previous = r.owner,
                        "taking over a link whose holder stopped checkpointing"
                    );
                }
                r.owner = Some(me.clone());
                r.lease_until_ms = now + lease_ms;
                r.version += 1;
                r.invocations += 1;
                r.updated_at_ms = now;
                if ports.jobs().replace(&r, version).await? {
                    return Ok(Claimed::Link(Box::new(r), budget));
                }
            }
            Decision::Wait { until_ms, version } => {
                if waited_on.is_some_and(|v| v != version) {
                    let why = "another invocation is running this link";
                    tracing::info!(job_id = job, seq, "{why}");
                    return done(LinkOutcome::Ignored(why.into()));
                }
                waited_on = Some(version);
                let jitter = rand::rng().random_range(100..500);
                let wait = Duration::from_millis((until_ms - now).max(0) as u64 + jitter);
                if wait + budget.margin() > budget.remaining() {
                    return Err(LinkError::LeaseHeld { job_id: job, seq });
                }
                tracing::info!(
                    job_id = job,
                    seq,
                    wait_ms = wait.as_millis() as u64,
                    "link is held; waiting for its lease"
                );
                tokio::time::sleep(wait).await;
            }
            Decision::Resend(next) => {
                tracing::warn!(
                    job_id = job,
                    seq = next.seq,
                    offset = next.offset,
                    "re-sending a continuation that nobody claimed"
                );
                invoke_next(ports, link, &next).await?;
                return done(LinkOutcome::ResentContinuation);
            }
            Decision::Shards => {
                let Some(parent) = current else { continue };
                return Ok(Claimed::Done(fanout::start(ports, link, &parent).await?));
            }
            Decision::Ignore(why) => {
                tracing::info!(job_id = job, seq, reason = why, "nothing to do");
                return done(LinkOutcome::Ignored(why));
            }
        }
    }
}

/// What creating a job from its upload came to.
enum NewJob {
    Running(Box<JobRecord>),
    /// Cut into shards, which run as chains of their own.
    Sharded(Box<JobRecord>),
    /// The job ended at once (file changed, malformed, too big).
    Ended {
        status: JobStatus,
        reason: String,
    },
    /// The object was deleted before its event arrived.
    Gone,
    /// Someone else created it first.
    Lost,
}

async fn create<P: Ports>(
    ports: &P,
    job: &str,
    me: &str,
    bucket: &str,
    key: &str,
    etag: &str,
    lease_ms: i64,
) -> Result<NewJob, LinkError> {
    let now = now_ms();
    let mut record = JobRecord {
        owner: Some(me.into()),
        lease_until_ms: now + lease_ms,
        invocations: 1,
        ..JobRecord::new(job, bucket, key, etag, now)
    };
    let encoding = Encoding::from_key(key).unwrap_or(Encoding::Json);
    let ended = match ports.objects().open(bucket, key, etag, 0).await {
        Err(ObjectError::NotFound { .. }) => return Ok(NewJob::Gone),
        Err(e @ ObjectError::Changed { .. }) => Some((JobStatus::Aborted, e.to_string())),
        Err(e) => return Err(e.into()),
        Ok(source) => match discover(source, encoding).await {
            Err(ReadError::Io(e)) => return Err(LinkError::Read(e)),
            Err(e) => Some((JobStatus::Failed, e.to_string())),
            Ok(layout) => match Renderer::new(&layout.header, &ports.settings().default_topic) {
                Err(e) => Some((JobStatus::Failed, e.to_string())),
                Ok(_) => {
                    record.offset = layout.users_start;
                    record.line = layout.first_line;
                    record.shards = fanout::plan(ports, &record, &layout).await?;
                    if record.shards.is_some() {
                        record.owner = None;
                        record.lease_until_ms = 0;
                    }
                    record.layout = Some(layout);
                    None
                }
            },
        },
    };
    if let Some((status, reason)) = &ended {
        record.status = *status;
        record.reason = Some(reason.clone());
        record.owner = None;
    }
    if !ports.jobs().create(&record).await? {
        return Ok(NewJob::Lost);
    }
    tracing::info!(job_id = job, bucket, key, etag, "job created");
    match ended {
        Some((status, reason)) => {
            tracing::error!(job_id = job, status = status.as_str(), reason, "job ended before sending");
            reports::write_summary(ports, &record).await?;
            Ok(NewJob::Ended { status, reason })
        }
        None if record.shards.is_some() => Ok(NewJob::Sharded(Box::new(record))),
        None => Ok(NewJob::Running(Box::new(record))),
    }
}
