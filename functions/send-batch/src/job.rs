//! One link's work once it holds the job: set up the pipeline (`pipeline`:
//! batches read ahead and sent through one window, the checkpoint at the
//! low-water mark), judge the canary when its users are finished, and end
//! as the reading ended; `ending` hands on, pauses or finishes.

use std::time::Duration;

use shared::batch::{CanaryThen, EntryReader, Layout};
use shared::caps::Limits;
use shared::chain::TimeBudget;
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
use crate::pipeline::{End, Pipeline, Ran};
use crate::timing::Calendar;

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
    budget: TimeBudget,
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
    let reader = match &record.shard {
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
    let names = record.clone();
    let mut pipeline = Pipeline::new(ports, &renderers, &rules, &names, budget, reader, gate);
    loop {
        let end;
        (record, out, end) = match pipeline.run(record, out, metrics).await? {
            Ran::LostClaim(out) => return Ok(out.ended(LinkOutcome::LostClaim)),
            Ran::Drained { record, out, end, canary: None } => (*record, out, end),
            Ran::Drained { record, out, end, canary: Some(verdict) } => {
                match after_canary(ports, link, *record, verdict, out).await? {
                    Canaried::Ended(result) => return Ok(result),
                    Canaried::Going(record, out) => (*record, out, end),
                }
            }
        };
        // The canary passed and nothing ended the reading: go on.
        let Some(end) = end else { continue };
        return match end {
            End::Eof => ending::finish(ports, link, record, JobStatus::Done, None, out).await,
            End::Broken(e) => ending::finish(ports, link, record, JobStatus::Failed, Some(e.to_string()), out).await,
            End::HandOff => ending::hand_off(ports, link, record, out).await,
            End::Throttled => {
                tracing::info!(job_id = job, seq, offset = record.offset, "handing on while throttled");
                ending::hand_off(ports, link, record, out).await
            }
            End::Stop(control) => ending::stop(ports, link, record, &control, out).await,
            End::Pause(control) => ending::pause(ports, link, record, &control, out).await,
        };
    }
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
