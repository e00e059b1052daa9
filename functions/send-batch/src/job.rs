//! One link of a job's chain: claim it, send batch after batch with a
//! checkpoint after each, and hand on or finish.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rand::RngExt;
use serde::Serialize;
use shared::batch::{Encoding, EntryReader, Layout, RawItem, ReadError, discover};
use shared::chain::{Claim, Continuation, ContinuationEvent, TimeBudget, decide, job_id};
use shared::devices::DeviceError;
use shared::invoke::{InvokeAsync, InvokeError};
use shared::jobs::{JobError, JobRead, JobRecord, JobStatus, JobWrite};
use shared::objects::{ByteReader, ObjectError, ObjectRead};
use shared::render::Renderer;
use tokio::io::AsyncReadExt;

use crate::deps::Ports;
use crate::handler::Trigger;
use crate::report;

/// Failures that end this invocation with an error, so that Lambda retries
/// it; the retry resumes from the last checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Jobs(#[from] JobError),
    #[error(transparent)]
    Objects(#[from] ObjectError),
    #[error(transparent)]
    Devices(#[from] DeviceError),
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    #[error("reading the batch file: {0}")]
    Read(std::io::Error),
    #[error("job {0} has no layout in its record")]
    NoLayout(String),
    #[error("link {seq} of job {job_id} is held by a live invocation whose lease outlasts this one")]
    LeaseHeld { job_id: String, seq: u64 },
    #[error("job {0} has no shards to start")]
    NotSharded(String),
}

/// About this invocation.
pub struct Link {
    pub function: String,
    pub deadline_ms: u64,
    pub request_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkReport {
    pub job_id: String,
    pub seq: u64,
    pub outcome: String,
    pub batches: u64,
    pub entries: u64,
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

fn report(job_id: &str, seq: u64, outcome: impl Into<String>) -> LinkReport {
    LinkReport { job_id: job_id.into(), seq, outcome: outcome.into(), batches: 0, entries: 0 }
}

pub async fn run<P: Ports>(ports: &P, link: &Link, trigger: Trigger) -> Result<LinkReport, LinkError> {
    let (job, seq, from_s3, bucket, key, etag) = match trigger {
        Trigger::Upload { bucket, key, etag, sequencer } => {
            (job_id(&bucket, &key, &etag, &sequencer), 0, true, bucket, key, etag)
        }
        Trigger::Continue(c) => (c.job_id, c.seq, false, c.bucket, c.key, c.etag),
    };
    let me = format!("{}/{}", link.request_id, uuid::Uuid::new_v4().simple());
    let budget =
        TimeBudget::new(link.deadline_ms, now_ms() as u64, ports.settings().max_run, ports.settings().margin_floor);
    let lease_ms = ports.settings().lease.as_millis() as i64;

    let mut waited_on = None;
    let record = loop {
        let now = now_ms();
        let current = ports.jobs().get(&job).await?;
        match decide(current.as_ref(), seq, from_s3, now) {
            Claim::Create => match create(ports, &job, &me, &bucket, &key, &etag, lease_ms).await? {
                Created::Running(r) => break *r,
                Created::Sharded(parent) => return crate::fanout::start(ports, link, &parent).await,
                Created::Ended(outcome) => return Ok(report(&job, seq, outcome)),
                Created::Lost => continue,
            },
            Claim::Take { version } => {
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
                    break r;
                }
            }
            Claim::Wait { until_ms, version } => {
                if waited_on.is_some_and(|v| v != version) {
                    let why = "another invocation is running this link";
                    tracing::info!(job_id = job, seq, "{why}");
                    return Ok(report(&job, seq, format!("ignored: {why}")));
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
            Claim::Resend(next) => {
                tracing::warn!(
                    job_id = job,
                    seq = next.seq,
                    offset = next.offset,
                    "re-sending a continuation that nobody claimed"
                );
                invoke_next(ports, link, &next).await?;
                return Ok(report(&job, seq, "resent continuation"));
            }
            Claim::Shards => {
                let Some(parent) = current else { continue };
                return crate::fanout::start(ports, link, &parent).await;
            }
            Claim::Ignore(why) => {
                tracing::info!(job_id = job, seq, reason = why, "nothing to do");
                return Ok(report(&job, seq, format!("ignored: {why}")));
            }
        }
    };
    send_link(ports, link, record, budget).await
}

enum Created {
    Running(Box<JobRecord>),
    /// Cut into shards, which run as chains of their own.
    Sharded(Box<JobRecord>),
    /// The job ended at once (file gone, changed, malformed, too big).
    Ended(String),
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
) -> Result<Created, LinkError> {
    let now = now_ms();
    let mut record = JobRecord {
        owner: Some(me.into()),
        lease_until_ms: now + lease_ms,
        invocations: 1,
        ..JobRecord::new(job, bucket, key, etag, now)
    };
    let encoding = Encoding::from_key(key).unwrap_or(Encoding::Json);
    let ended = match ports.objects().open(bucket, key, etag, 0).await {
        Err(ObjectError::NotFound { .. }) => return Ok(Created::Ended("ignored: the object no longer exists".into())),
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
                    record.shards = crate::fanout::plan(ports, &record, &layout).await?;
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
        return Ok(Created::Lost);
    }
    tracing::info!(job_id = job, bucket, key, etag, "job created");
    match ended {
        Some((status, reason)) => {
            tracing::error!(job_id = job, status = status.as_str(), reason, "job ended before sending");
            report::write_summary(ports, &record).await?;
            Ok(Created::Ended(format!("{}: {reason}", status.as_str())))
        }
        None if record.shards.is_some() => Ok(Created::Sharded(Box::new(record))),
        None => Ok(Created::Running(Box::new(record))),
    }
}

enum BatchEnd {
    More,
    Eof,
    Broken(ReadError),
}

async fn read_batch<R>(
    reader: &mut EntryReader<R>,
    size: usize,
    items: &mut Vec<RawItem>,
) -> Result<BatchEnd, LinkError>
where
    R: tokio::io::AsyncBufRead + Unpin,
{
    items.clear();
    while items.len() < size {
        match reader.next_entry().await {
            Ok(Some(item)) => items.push(item),
            Ok(None) => return Ok(BatchEnd::Eof),
            Err(ReadError::Io(e)) => return Err(LinkError::Read(e)),
            Err(e) => return Ok(BatchEnd::Broken(e)),
        }
    }
    Ok(BatchEnd::More)
}

async fn send_link<P: Ports>(
    ports: &P,
    link: &Link,
    mut record: JobRecord,
    mut budget: TimeBudget,
) -> Result<LinkReport, LinkError> {
    let job = record.job_id.clone();
    let seq = record.seq;
    let layout: Layout = record.layout.clone().ok_or_else(|| LinkError::NoLayout(job.clone()))?;
    let mut out = report(&job, seq, "");
    let renderer = match Renderer::new(&layout.header, &ports.settings().default_topic) {
        Ok(r) => r,
        Err(e) => return finish(ports, record, JobStatus::Failed, Some(e.to_string()), out).await,
    };
    if !layout.has_users {
        return finish(ports, record, JobStatus::Done, None, out).await;
    }
    let source = match ports.objects().open(&record.bucket, &record.key, &record.etag, record.offset).await {
        Ok(s) => s,
        Err(e @ ObjectError::Changed { .. }) => {
            return finish(ports, record, JobStatus::Aborted, Some(e.to_string()), out).await;
        }
        Err(e) => return Err(e.into()),
    };
    let mut reader = match &record.shard {
        // A shard reads only its range; past the first, its line numbers
        // are unknown (the lines before it were never counted).
        Some(shard) => {
            let source: ByteReader = Box::new(source.take(shard.end.saturating_sub(record.offset)));
            let reader = EntryReader::new(source, record.offset, layout.encoding, record.line);
            if shard.index == 0 { reader } else { reader.without_line_numbers() }
        }
        None => EntryReader::new(source, record.offset, layout.encoding, record.line),
    };
    let category = layout.header.category.as_deref();
    let settings = ports.settings();
    let mut items = Vec::with_capacity(settings.batch_size);
    // The first batch of a link may be a resend: a holder that died (or
    // errored) after writing this batch's failed part but before its
    // checkpoint left a part that the resend must replace even when it has
    // no failures, or failed.jsonl would re-drive devices that were delivered.
    let mut may_be_resend = true;
    loop {
        let started = Instant::now();
        let end = read_batch(&mut reader, settings.batch_size, &mut items).await?;
        if !items.is_empty() {
            let batch_offset = items[0].offset;
            let result = crate::send::process(ports, &renderer, category, &items).await?;
            if !result.failed_lines.is_empty() || may_be_resend {
                report::write_failed_part(ports, &record, batch_offset, &result.failed_lines).await?;
            }
            may_be_resend = false;
            let took = started.elapsed();
            record.counters.add(&result.counters);
            record.offset = reader.position();
            record.line = reader.line();
            record.busy_ms += took.as_millis() as u64;
            if !checkpoint(ports, &mut record).await? {
                out.outcome = "stopped: lost the claim to another invocation".into();
                return Ok(out);
            }
            out.batches += 1;
            out.entries += result.counters.entries;
            let d = result.counters.total_devices();
            tracing::info!(
                job_id = job,
                seq,
                offset = batch_offset,
                next_offset = record.offset,
                entries = result.counters.entries,
                targeted = result.counters.targeted_users,
                delivered = d.delivered,
                pruned = d.pruned,
                failed = d.failed,
                retries = d.retries,
                batch_ms = took.as_millis() as u64,
                remaining_ms = budget.remaining().as_millis() as u64,
                "batch sent"
            );
            budget.record_batch(took);
        }
        match end {
            BatchEnd::Eof => return finish(ports, record, JobStatus::Done, None, out).await,
            BatchEnd::Broken(e) => return finish(ports, record, JobStatus::Failed, Some(e.to_string()), out).await,
            BatchEnd::More if budget.should_hand_off() => return hand_off(ports, link, record, out).await,
            BatchEnd::More => {}
        }
    }
}

/// Saves progress; false when another invocation has taken the link.
async fn checkpoint<P: Ports>(ports: &P, record: &mut JobRecord) -> Result<bool, LinkError> {
    let expected = record.version;
    let now = now_ms();
    record.version += 1;
    record.updated_at_ms = now;
    record.lease_until_ms = now + ports.settings().lease.as_millis() as i64;
    Ok(ports.jobs().replace(record, expected).await?)
}

async fn hand_off<P: Ports>(
    ports: &P,
    link: &Link,
    mut record: JobRecord,
    mut out: LinkReport,
) -> Result<LinkReport, LinkError> {
    let expected = record.version;
    record.seq += 1;
    record.owner = None;
    record.version += 1;
    record.updated_at_ms = now_ms();
    if !ports.jobs().replace(&record, expected).await? {
        out.outcome = "stopped: lost the claim to another invocation".into();
        return Ok(out);
    }
    let next = Continuation::of(&record);
    invoke_next(ports, link, &next).await?;
    tracing::info!(job_id = record.job_id, seq = next.seq, offset = next.offset, "handed on to the next link");
    out.outcome = format!("handed off to link {}", next.seq);
    Ok(out)
}

pub(crate) async fn invoke_next<P: Ports>(ports: &P, link: &Link, next: &Continuation) -> Result<(), LinkError> {
    let payload = serde_json::to_vec(&ContinuationEvent { next: next.clone() }).unwrap_or_default();
    ports.invoker().invoke_async(&link.function, payload).await?;
    Ok(())
}

async fn finish<P: Ports>(
    ports: &P,
    mut record: JobRecord,
    status: JobStatus,
    reason: Option<String>,
    mut out: LinkReport,
) -> Result<LinkReport, LinkError> {
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
        return finish_shard(ports, record, expected, out).await;
    }
    // The summary first: if we crash before the record says done, the retry
    // takes over at the end of the file and writes it again, identically.
    report::write_summary(ports, &record).await?;
    if !ports.jobs().replace(&record, expected).await? {
        out.outcome = "stopped: lost the claim to another invocation".into();
        return Ok(out);
    }
    log_finished(&record);
    out.outcome = status.as_str().into();
    Ok(out)
}

/// A shard's end: its counters go into the job first (see
/// `fanout::roll_up`), then its own record says it is finished.
async fn finish_shard<P: Ports>(
    ports: &P,
    record: JobRecord,
    expected: u64,
    mut out: LinkReport,
) -> Result<LinkReport, LinkError> {
    let rolled = crate::fanout::roll_up(ports, &record).await?;
    if !ports.jobs().replace(&record, expected).await? {
        out.outcome = "stopped: lost the claim to another invocation".into();
        return Ok(out);
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
    out.outcome = match rolled {
        crate::fanout::RolledUp::Waiting { finished, of } => {
            format!("shard {}: {finished} of {of} shards finished", record.status.as_str())
        }
        crate::fanout::RolledUp::Finished(job) => {
            log_finished(&job);
            format!("shard {}; job {}", record.status.as_str(), job.status.as_str())
        }
        crate::fanout::RolledUp::AlreadyFinished => format!("shard {}; job already finished", record.status.as_str()),
    };
    Ok(out)
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

/// For report.rs: the bytes of a JSON value.
pub fn json_bytes(value: &impl Serialize) -> Bytes {
    Bytes::from(serde_json::to_vec_pretty(value).unwrap_or_default())
}
