//! Who runs a link: creating a job from its upload, claiming a link that
//! nobody holds, taking over one whose holder died, or standing aside.

use std::time::Duration;

use rand::RngExt;
use shared::batch::{Encoding, Layout, PreflightError, ReadError, discover, preflight};
use shared::chain::{Continuation, ContinuationEvent, Decision, TimeBudget, decide, job_id};
use shared::clock::now_ms;
use shared::cost::Usage;
use shared::jobs::{ControlRead, ControlState, JobRead, JobRecord, JobStatus, JobWrite};
use shared::objects::{ObjectError, ObjectRead};
use shared::render::Renderers;
use shared::schedules::{OneTime, ScheduleJobs, schedule_name};

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
            Decision::Create => match create(ports, link, &job, &me, (&bucket, &key, &etag), lease_ms).await? {
                NewJob::Running(r) => return Ok(Claimed::Link(r, budget)),
                NewJob::Sharded(parent) => return Ok(Claimed::Done(fanout::start(ports, link, &parent).await?)),
                NewJob::Scheduled { at_ms } => return done(LinkOutcome::Scheduled { at_ms }),
                NewJob::Ended { status, reason } => return done(LinkOutcome::EndedBeforeSending { status, reason }),
                NewJob::Gone => return done(LinkOutcome::Ignored("the object no longer exists".into())),
                NewJob::Lost => continue,
            },
            Decision::Scheduled => {
                // A repeated upload event: the schedule may be what the first
                // attempt did not get to make.
                let Some(r) = current else { continue };
                let at_ms = r.send_at_ms.unwrap_or(now);
                schedule(ports, link, &r, at_ms).await?;
                return done(LinkOutcome::Scheduled { at_ms });
            }
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
                // A scheduled job starts at its time, unless it was stopped
                // before: then it starts now, only to finish as stopped.
                let starting = r.status == JobStatus::Scheduled;
                let stopped = starting
                    && ports.jobs().control(&r.job_id).await?.is_some_and(|c| c.state == ControlState::Stopped);
                if starting && !stopped {
                    // The users' calendar, which tests move (the scheduler
                    // that fired this reads the same one).
                    let now = settings.calendar.now_ms()?;
                    if let Some(early) = too_early(&r, now, &budget) {
                        // Scheduler fires on time; a clock this far off makes a new
                        // schedule rather than a link that waits its whole budget.
                        schedule(ports, link, &r, early).await?;
                        return done(LinkOutcome::Scheduled { at_ms: early });
                    }
                    if let Some(at) = r.send_at_ms.filter(|at| *at > now) {
                        tokio::time::sleep(Duration::from_millis((at - now) as u64)).await;
                    }
                }
                r.status = JobStatus::Running;
                r.owner = Some(me.clone());
                r.lease_until_ms = now + lease_ms;
                r.version += 1;
                r.invocations += 1;
                r.usage.invocations += 1;
                crate::ending::charge(&mut r);
                r.updated_at_ms = now;
                if !ports.jobs().replace(&r, version).await? {
                    continue;
                }
                // A scheduled job is cut into shards when it starts, not when
                // it was uploaded; a canary keeps it in one chain for now.
                // A deferred part is one instant's users: never cut again.
                if starting && !stopped && !has_canary(&r) && r.part.is_none() {
                    return Ok(match fanout::reshard(ports, link, r).await? {
                        fanout::Resharded::Sharded(result) => Claimed::Done(result),
                        fanout::Resharded::Single(r) => Claimed::Link(r, budget),
                    });
                }
                return Ok(Claimed::Link(Box::new(r), budget));
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
    /// Waits for its `send_at`.
    Scheduled {
        at_ms: i64,
    },
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

/// A `send_at` this far in the past is a mistake, not a delay in delivery.
const SEND_AT_GRACE_MS: i64 = 5 * 60 * 1000;

/// What the checks before the first push found in a file.
struct Ready {
    layout: Layout,
    total_entries: u64,
    /// When it must wait: the epoch ms to start at.
    send_at_ms: Option<i64>,
}

/// Everything checked before the first push: the header, the notification's
/// size, every entry (the pre-flight check), `expected_users` and
/// `send_at`. `Err` inside ends the job, naming why; nothing is sent.
async fn inspect<P: Ports>(
    ports: &P,
    (bucket, key, etag): (&str, &str, &str),
    now: i64,
) -> Result<Option<Result<Ready, (JobStatus, String)>>, LinkError> {
    let encoding = Encoding::from_key(key).unwrap_or(Encoding::Json);
    let source = match ports.objects().open(bucket, key, etag, 0).await {
        Err(ObjectError::NotFound { .. }) => return Ok(None),
        Err(e @ ObjectError::Changed { .. }) => return Ok(Some(Err((JobStatus::Aborted, e.to_string())))),
        Err(e) => return Err(e.into()),
        Ok(source) => source,
    };
    let failed = |reason: String| Ok(Some(Err((JobStatus::Failed, reason))));
    let layout = match discover(source, encoding).await {
        Err(ReadError::Io(e)) => return Err(LinkError::Read(e)),
        Err(e) => return failed(e.to_string()),
        Ok(layout) => layout,
    };
    if let Err(e) = Renderers::new(&layout.header, &ports.settings().default_topic) {
        return failed(e.to_string());
    }
    let body = match ports.objects().open(bucket, key, etag, layout.users_start).await {
        Err(e @ ObjectError::Changed { .. }) => return Ok(Some(Err((JobStatus::Aborted, e.to_string())))),
        Err(e) => return Err(e.into()),
        Ok(body) => body,
    };
    let check = match preflight(body, &layout).await {
        Err(PreflightError::Read(ReadError::Io(e))) => return Err(LinkError::Read(e)),
        Err(e) => return failed(format!("pre-flight check: {e}; nothing was sent")),
        Ok(check) => check,
    };
    let send_at_ms = match layout.header.send_at_ms() {
        Err(e) => return failed(e),
        Ok(Some(at)) if at < now - SEND_AT_GRACE_MS => {
            let text = layout.header.send_at.as_deref().unwrap_or("?");
            return failed(format!("`send_at` {text} is in the past; nothing was sent"));
        }
        // Within a second: start now.
        Ok(at) => at.filter(|at| *at > now + 1000),
    };
    if send_at_ms.is_some() && ports.settings().scheduler.is_none() {
        return failed(
            "`send_at` needs EventBridge Scheduler, and SCHEDULER_ROLE_ARN is not set; nothing was sent".into(),
        );
    }
    Ok(Some(Ok(Ready { layout, total_entries: check.entries, send_at_ms })))
}

async fn create<P: Ports>(
    ports: &P,
    link: &Link,
    job: &str,
    me: &str,
    file: (&str, &str, &str),
    lease_ms: i64,
) -> Result<NewJob, LinkError> {
    let (bucket, key, etag) = file;
    let now = now_ms();
    let mut record = JobRecord {
        owner: Some(me.into()),
        lease_until_ms: now + lease_ms,
        invocations: 1,
        usage: Usage { invocations: 1, ..Usage::default() },
        ..JobRecord::new(job, bucket, key, etag, now)
    };
    let ended = match inspect(ports, file, ports.settings().calendar.now_ms()?).await? {
        None => return Ok(NewJob::Gone),
        Some(Err(ended)) => Some(ended),
        Some(Ok(ready)) => {
            record.offset = ready.layout.users_start;
            record.line = ready.layout.first_line;
            record.total_entries = Some(ready.total_entries);
            record.send_at_ms = ready.send_at_ms;
            if ready.send_at_ms.is_some() {
                record.status = JobStatus::Scheduled;
            } else if ready.layout.header.canary.is_none() {
                record.shards = fanout::plan(ports, &record, &ready.layout, ready.layout.users_start).await?;
            }
            if record.shards.is_some() || ready.send_at_ms.is_some() {
                record.owner = None;
                record.lease_until_ms = 0;
            }
            record.layout = Some(ready.layout);
            None
        }
    };
    if let Some((status, reason)) = &ended {
        record.status = *status;
        record.reason = Some(reason.clone());
        record.owner = None;
        // The summary first, as when a job ends later: a finished record
        // without one would stay so (its retries find the job finished), and
        // whoever follows the job reads the summary once the record ends.
        reports::write_summary(ports, &record).await?;
    }
    crate::ending::charge(&mut record);
    if !ports.jobs().create(&record).await? {
        return Ok(NewJob::Lost);
    }
    tracing::info!(job_id = job, bucket, key, etag, status = record.status.as_str(), "job created");
    match ended {
        Some((status, reason)) => {
            tracing::error!(job_id = job, status = status.as_str(), reason, "job ended before sending");
            Ok(NewJob::Ended { status, reason })
        }
        None => match record.send_at_ms {
            Some(at_ms) => {
                schedule(ports, link, &record, at_ms).await?;
                Ok(NewJob::Scheduled { at_ms })
            }
            None if record.shards.is_some() => Ok(NewJob::Sharded(Box::new(record))),
            None => Ok(NewJob::Running(Box::new(record))),
        },
    }
}

/// The one-time schedule that starts a scheduled job with its link 0.
async fn schedule<P: Ports>(ports: &P, link: &Link, record: &JobRecord, at_ms: i64) -> Result<(), LinkError> {
    let payload = ContinuationEvent { next: Continuation::of(record) }.to_json();
    let name = schedule_name(&record.job_id);
    let schedule = OneTime { name, at_ms, target_arn: link.function_arn.clone(), payload };
    ports.schedules().create(&schedule).await?;
    tracing::info!(job_id = record.job_id, at_ms, schedule = schedule.name, "scheduled");
    Ok(())
}

fn has_canary(record: &JobRecord) -> bool {
    record.layout.as_ref().is_some_and(|l| l.header.canary.is_some())
}

/// A scheduled job invoked before its time, by more than this link could
/// wait: when to schedule it again.
fn too_early(record: &JobRecord, now: i64, budget: &TimeBudget) -> Option<i64> {
    let at = record.send_at_ms?;
    let wait = Duration::from_millis((at - now).max(0) as u64);
    (wait + budget.margin() >= budget.remaining()).then_some(at)
}
