//! One link's work once it holds the job: send batch after batch with a
//! checkpoint after each, passing the gate (control, rate, canary) before
//! each; `ending` hands on, pauses or finishes.

use std::time::{Duration, Instant};

use shared::batch::{CanaryThen, EntryReader, Layout, RawItem, ReadError};
use shared::caps::Limits;
use shared::chain::TimeBudget;
use shared::counters::Counters;
use shared::jobs::{ControlState, JobRecord, JobStatus};
use shared::objects::{ByteReader, ObjectError, ObjectRead};
use shared::render::Renderers;
use tokio::io::AsyncReadExt;

use crate::audience::Rules;
use crate::deps::Ports;
use crate::ending::{self, Sent};
use crate::fanout;
use crate::gate::{self, CanaryVerdict, Gate, Verdict};
use crate::link::{Link, LinkError, LinkOutcome, LinkResult};
use crate::parts;
use crate::reports;
use crate::timing::Calendar;

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

/// Sends from the record's offset until the file ends, the time runs low,
/// or the job's control says otherwise; publishes the link's metrics.
pub async fn run<P: Ports>(
    ports: &P,
    link: &Link,
    record: JobRecord,
    budget: TimeBudget,
) -> Result<LinkResult, LinkError> {
    let mut metrics = shared::metrics::link_started(&record.job_id);
    let result = send(ports, link, record, budget, &mut metrics).await;
    if let Ok(done) = &result {
        metrics.finish(Duration::from_millis(done.busy_ms));
    }
    result
}

async fn send<P: Ports>(
    ports: &P,
    link: &Link,
    mut record: JobRecord,
    mut budget: TimeBudget,
    metrics: &mut shared::metrics::Link,
) -> Result<LinkResult, LinkError> {
    let job = record.job_id.clone();
    let seq = record.seq;
    let layout: Layout = record.layout.clone().ok_or_else(|| LinkError::NoLayout(job.clone()))?;
    let mut out = Sent { job_id: job.clone(), seq, batches: 0, entries: 0, busy_ms: 0 };
    let renderers = match Renderers::new(&layout.header, &ports.settings().default_topic) {
        Ok(r) => r,
        Err(e) => return ending::finish(ports, link, record, JobStatus::Failed, Some(e.to_string()), out).await,
    };
    let settings = ports.settings();
    let mut gate = Gate::new(&record, settings.batch_size);
    // Before anything is read: a stop or a pause may have come while the
    // job waited between links (or for its `send_at`).
    match gate.check(ports).await? {
        Verdict::Stop(control) => return ending::stop(ports, link, record, &control, out).await,
        Verdict::Pause(control) => return ending::pause(ports, link, record, &control, out).await,
        Verdict::Go => {}
    }
    if !layout.has_users {
        return ending::finish(ports, link, record, JobStatus::Done, None, out).await;
    }
    let source = match ports.objects().open(&record.bucket, &record.key, &record.etag, record.offset).await {
        Ok(s) => s,
        Err(e @ ObjectError::Changed { .. }) => {
            return ending::finish(ports, link, record, JobStatus::Aborted, Some(e.to_string()), out).await;
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
    let calendar = Calendar::of(&layout.header, settings.calendar.now_ms()?);
    // A part sends its users at its instant; it never defers them again.
    let calendar = if record.part.is_some() { calendar.for_part() } else { calendar };
    let limits =
        Limits::of(settings.cap_per_day, &settings.category_caps, category, layout.header.category_cap_per_day);
    let job_id = record.job_id.clone();
    let rules = Rules { job_id: &job_id, category, calendar: &calendar, limits: &limits };
    let mut items = Vec::with_capacity(settings.batch_size);
    // The first batch of a link may be a resend: a holder that died (or
    // errored) after writing this batch's failed part but before its
    // checkpoint left a part that the resend must replace even when it has
    // no failures, or failed.jsonl would re-drive devices that were delivered.
    let mut may_be_resend = true;
    let mut first = true;
    loop {
        if !first {
            match gate.check(ports).await? {
                Verdict::Stop(control) => return ending::stop(ports, link, record, &control, out).await,
                Verdict::Pause(control) => return ending::pause(ports, link, record, &control, out).await,
                Verdict::Go => {}
            }
        }
        first = false;
        let started = Instant::now();
        let end = read_batch(&mut reader, gate.batch_limit(&record.counters), &mut items).await?;
        if !items.is_empty() {
            // The rate: when the time runs out waiting for it, nothing of
            // this batch has been sent and the next link reads it again.
            if !gate.admit(items.len() as u64, &budget).await? {
                tracing::info!(job_id = job, seq, offset = record.offset, "handing on while throttled");
                return ending::hand_off(ports, link, record, out).await;
            }
            let batch_offset = items[0].offset;
            let result = crate::send::process(ports, &renderers, &rules, &items).await?;
            if !result.failed_lines.is_empty() || may_be_resend {
                reports::write_failed_part(ports, &record, batch_offset, &result.failed_lines).await?;
            }
            if !result.skipped_lines.is_empty() || may_be_resend {
                reports::write_skipped_part(ports, &record, batch_offset, &result.skipped_lines).await?;
            }
            if may_be_resend {
                parts::clear_chunks(ports, &record, batch_offset).await?;
            }
            parts::write_chunks(ports, &record, batch_offset, &result.deferred).await?;
            may_be_resend = false;
            let took = started.elapsed();
            let entries_before = record.counters.entries;
            record.counters.add(&result.counters);
            metrics.batch(&result.counters);
            record.offset = reader.position();
            record.line = reader.line();
            record.busy_ms += took.as_millis() as u64;
            out.busy_ms += took.as_millis() as u64;
            if !ending::checkpoint(ports, &mut record).await? {
                return Ok(out.ended(LinkOutcome::LostClaim));
            }
            metrics.checkpointed();
            out.batches += 1;
            out.entries += result.counters.entries;
            log_batch(&record, batch_offset, &result.counters, took, &budget);
            budget.record_batch(took);
            if let Some(verdict) = gate.canary(entries_before, &record.counters) {
                match after_canary(ports, link, record, verdict, out).await? {
                    Canaried::Ended(result) => return Ok(result),
                    Canaried::Going(r, o) => (record, out) = (*r, o),
                }
            }
        }
        match end {
            BatchEnd::Eof => return ending::finish(ports, link, record, JobStatus::Done, None, out).await,
            BatchEnd::Broken(e) => {
                return ending::finish(ports, link, record, JobStatus::Failed, Some(e.to_string()), out).await;
            }
            BatchEnd::More if budget.should_hand_off() => return ending::hand_off(ports, link, record, out).await,
            BatchEnd::More => {}
        }
    }
}

fn log_batch(record: &JobRecord, batch_offset: u64, batch: &Counters, took: Duration, budget: &TimeBudget) {
    let d = batch.total_devices();
    tracing::info!(
        job_id = record.job_id,
        seq = record.seq,
        offset = batch_offset,
        next_offset = record.offset,
        entries = batch.entries,
        targeted = batch.targeted_users,
        delivered = d.delivered,
        pruned = d.pruned,
        failed = d.failed,
        retries = d.retries,
        batch_ms = took.as_millis() as u64,
        remaining_ms = budget.remaining().as_millis() as u64,
        "batch sent"
    );
}

enum Canaried {
    /// The link ended: stopped, paused, or fanned out into shards.
    Ended(LinkResult),
    /// The canary passed: keep sending.
    Going(Box<JobRecord>, Sent),
}

/// The canary's users are sent: stop, pause, or go on (cutting the rest of
/// a big file into shards now, since the canary kept it in one chain).
async fn after_canary<P: Ports>(
    ports: &P,
    link: &Link,
    record: JobRecord,
    verdict: CanaryVerdict,
    out: Sent,
) -> Result<Canaried, LinkError> {
    let job = record.job_id.clone();
    let control = match &verdict {
        CanaryVerdict::Failed { reason } => {
            tracing::warn!(job_id = job, reason, "the canary failed; stopping the job");
            gate::set_by_canary(ports, &job, ControlState::Stopped, reason).await?
        }
        CanaryVerdict::Passed { then: CanaryThen::Pause, summary } => {
            tracing::info!(job_id = job, summary, "the canary passed; pausing for a person to resume");
            gate::set_by_canary(ports, &job, ControlState::Paused, summary).await?
        }
        CanaryVerdict::Passed { then: CanaryThen::Continue, summary } => {
            tracing::info!(job_id = job, summary, "the canary passed; going on");
            return Ok(match fanout::reshard(ports, link, record).await? {
                // The canary's own batches are this link's; the rest are the shards'.
                fanout::Resharded::Sharded(result) => Canaried::Ended(LinkResult {
                    batches: out.batches,
                    entries: out.entries,
                    busy_ms: out.busy_ms,
                    ..result
                }),
                fanout::Resharded::Single(record) => Canaried::Going(record, out),
            });
        }
    };
    Ok(Canaried::Ended(match control.state {
        ControlState::Stopped => ending::stop(ports, link, record, &control, out).await?,
        ControlState::Paused => ending::pause(ports, link, record, &control, out).await?,
        ControlState::Running => return Ok(Canaried::Going(Box::new(record), out)),
    }))
}
