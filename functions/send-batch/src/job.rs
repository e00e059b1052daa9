//! One link's work once it holds the job: send batch after batch with a
//! checkpoint after each, then hand on to the next link or finish the job.

use std::time::Instant;

use shared::batch::{EntryReader, Layout, RawItem, ReadError};
use shared::chain::{Continuation, TimeBudget};
use shared::clock::now_ms;
use shared::jobs::{JobRecord, JobStatus, JobWrite};
use shared::objects::{ByteReader, ObjectError, ObjectRead};
use shared::render::Renderer;
use tokio::io::AsyncReadExt;

use crate::deps::Ports;
use crate::fanout::{self, RolledUp};
use crate::link::{Link, LinkError, LinkOutcome, LinkResult, invoke_next};
use crate::reports;

/// What this link has sent so far, for its result.
struct Sent {
    job_id: String,
    seq: u64,
    batches: u64,
    entries: u64,
}

impl Sent {
    fn ended(self, outcome: LinkOutcome) -> LinkResult {
        LinkResult { job_id: self.job_id, seq: self.seq, outcome, batches: self.batches, entries: self.entries }
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

/// Sends from the record's offset until the file ends or the time runs low.
pub async fn run<P: Ports>(
    ports: &P,
    link: &Link,
    mut record: JobRecord,
    mut budget: TimeBudget,
) -> Result<LinkResult, LinkError> {
    let job = record.job_id.clone();
    let seq = record.seq;
    let layout: Layout = record.layout.clone().ok_or_else(|| LinkError::NoLayout(job.clone()))?;
    let mut out = Sent { job_id: job.clone(), seq, batches: 0, entries: 0 };
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
                reports::write_failed_part(ports, &record, batch_offset, &result.failed_lines).await?;
            }
            may_be_resend = false;
            let took = started.elapsed();
            record.counters.add(&result.counters);
            record.offset = reader.position();
            record.line = reader.line();
            record.busy_ms += took.as_millis() as u64;
            if !checkpoint(ports, &mut record).await? {
                return Ok(out.ended(LinkOutcome::LostClaim));
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

async fn hand_off<P: Ports>(ports: &P, link: &Link, mut record: JobRecord, out: Sent) -> Result<LinkResult, LinkError> {
    let expected = record.version;
    record.seq += 1;
    record.owner = None;
    record.version += 1;
    record.updated_at_ms = now_ms();
    if !ports.jobs().replace(&record, expected).await? {
        return Ok(out.ended(LinkOutcome::LostClaim));
    }
    let next = Continuation::of(&record);
    invoke_next(ports, link, &next).await?;
    tracing::info!(job_id = record.job_id, seq = next.seq, offset = next.offset, "handed on to the next link");
    Ok(out.ended(LinkOutcome::HandedOff { next: next.seq }))
}

async fn finish<P: Ports>(
    ports: &P,
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
        return finish_shard(ports, record, expected, out).await;
    }
    // The summary first: if we crash before the record says done, the retry
    // takes over at the end of the file and writes it again, identically.
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
    record: JobRecord,
    expected: u64,
    out: Sent,
) -> Result<LinkResult, LinkError> {
    let rolled = fanout::roll_up(ports, &record).await?;
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
