//! The pipeline inside a link. While the batches already read are sending,
//! the next ones are read, admitted by the gate (control, rate) and sorted
//! (device lookups, caps: `reading`, where a batch is sorted while the next
//! is read); every device of every open batch flows through
//! one window of requests in flight, with no barrier at a batch's end; a
//! batch whose sends are all answered prunes its dead tokens and writes its
//! report parts while the others send; and the checkpoint follows the
//! low-water mark (`window`), one write at a time, carrying as many
//! finished batches as have piled up behind it.
//!
//! At most `PIPELINE_BATCHES` batches are past the checkpoint at once, being
//! sorted or open: that bounds how far the checkpoint lags, and so what a
//! crash resends, and what a stop lets through. A control, the time
//! check and a canary's boundary stop the reading; the open batches finish
//! (drain) and `job` ends the link as before.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::OptionFuture;
use futures::stream::{FuturesOrdered, FuturesUnordered, StreamExt};
use shared::batch::{Device, EntryReader};
use shared::chain::TimeBudget;
use shared::counters::Counters;
use shared::jobs::JobRecord;
use shared::objects::ByteReader;
use shared::push::retry::Final;
use shared::render::Renderers;

use crate::audience::{Audience, Rules};
use crate::deps::Ports;
use crate::ending::{self, Sent};
use crate::gate::{CanaryVerdict, CanaryWatch, Gate};
use crate::link::LinkError;
pub use crate::reading::End;
use crate::reading::{self, Ask, Prepared, Ready};
use crate::reports::Part;
use crate::send::{self, Tally, UserSend};
use crate::window::Window;
use crate::{parts, reports};

/// How a run of the pipeline ended.
pub enum Ran {
    /// A checkpoint found another invocation holding the link.
    LostClaim(Sent),
    /// Everything read is finished and in `record`; `canary` when the last
    /// batch completed the canary (judged before `end` applies).
    Drained { record: Box<JobRecord>, out: Sent, end: Option<End>, canary: Option<CanaryVerdict> },
}

pub struct Pipeline<'a, P> {
    pub ports: &'a P,
    pub renderers: &'a Renderers,
    pub rules: &'a Rules<'a>,
    /// The record as the link found it, for naming report parts.
    pub names: &'a JobRecord,
    pub budget: TimeBudget,
    /// The reader and the gate while no batch is being read.
    idle: Option<(EntryReader<ByteReader>, Gate)>,
    canary: Option<CanaryWatch>,
    /// Entries the job has read so far (the canary's boundary is in these).
    read: u64,
    /// Batches this link has started to read.
    reads: u64,
    /// Batches open at most (`PIPELINE_BATCHES`).
    batches: usize,
    /// Requests in flight at most.
    requests: usize,
}

/// An open batch.
struct Batch<'r> {
    offset: u64,
    started: Instant,
    /// Possibly sent before by a link that died with it open: its report
    /// parts are written even when empty, and its deferred chunks cleared.
    may_be_resend: bool,
    tally: Tally<'r>,
    skipped: Vec<String>,
    deferred: BTreeMap<i64, Vec<String>>,
    /// Devices not yet answered.
    pending: usize,
}

impl<'a, P: Ports> Pipeline<'a, P> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        ports: &'a P,
        renderers: &'a Renderers,
        rules: &'a Rules<'a>,
        names: &'a JobRecord,
        budget: TimeBudget,
        reader: EntryReader<ByteReader>,
        gate: Gate,
    ) -> Self {
        let settings = ports.settings();
        Pipeline {
            ports,
            renderers,
            rules,
            names,
            budget,
            canary: gate.canary_watch(),
            idle: Some((reader, gate)),
            read: names.counters.entries,
            reads: 0,
            batches: settings.pipeline_batches.max(1),
            requests: send::window(ports),
        }
    }

    /// Sends until the reading stops and everything read is finished.
    pub async fn run(
        &mut self,
        mut record: JobRecord,
        mut out: Sent,
        metrics: &mut shared::metrics::Link,
    ) -> Result<Ran, LinkError> {
        let (ports, rules, names) = (self.ports, self.rules, self.names);
        let mut window: Window<Batch<'a>> = Window::default();
        let mut queue: VecDeque<Queued<'a>> = VecDeque::new();
        let mut sends = FuturesUnordered::new();
        let mut finishing = FuturesUnordered::new();
        // Read batches being sorted, opened in file order as they come.
        let mut sorting = FuturesOrdered::new();
        // Each is a single future, boxed to stay put while it is polled.
        let mut prep = None;
        let mut saving = None;
        let (mut dirty, mut end, mut canary) = (false, None, None);
        let mut last_commit = Instant::now();
        loop {
            while sends.len() < self.requests {
                let Some(queued) = queue.pop_front() else { break };
                sends.push(dispatch(ports, queued));
            }
            let held = self.canary.as_ref().is_some_and(|c| c.holds(self.read, record.counters.entries));
            let past_checkpoint = window.len() + sorting.len();
            if end.is_none() && canary.is_none() && prep.is_none() && past_checkpoint < self.batches && !held {
                if self.reads > 0 && self.budget.should_hand_off() {
                    end = Some(End::HandOff);
                } else if let Some((reader, gate)) = self.idle.take() {
                    let limit = self.canary.as_ref().map_or(self.ports.settings().batch_size, |c| {
                        c.batch_limit(self.read, self.ports.settings().batch_size)
                    });
                    let ask = Ask { check: self.reads > 0, limit, ordinal: self.reads + 1 };
                    self.reads += 1;
                    prep = Some(Box::pin(reading::read(ports, reader, gate, ask, self.budget.clone())));
                }
            }
            if saving.is_none() && dirty {
                dirty = false;
                let mut snapshot = record.clone();
                saving = Some(Box::pin(async move {
                    let saved = ending::checkpoint(ports, &mut snapshot).await;
                    (saved, snapshot)
                }));
            }
            let drained = window.is_empty() && sorting.is_empty() && prep.is_none() && saving.is_none();
            if drained && (end.is_some() || canary.is_some()) {
                return Ok(Ran::Drained { record: Box::new(record), out, end, canary });
            }
            tokio::select! {
                Some((Queued { batch: id, user, index, device }, outcome, retries)) = sends.next(), if !sends.is_empty() => {
                    if let Some(b) = window.get_mut(id) {
                        b.tally.record(&user, index, device, outcome, retries);
                        b.pending -= 1;
                        if b.pending == 0 {
                            finishing.push(finish(ports, names, id, b));
                        }
                    }
                }
                Some((id, finished)) = finishing.next(), if !finishing.is_empty() => {
                    finished?;
                    window.finish(id);
                    while let Some((batch, at)) = window.commit() {
                        let before = record.counters.entries;
                        let c = &batch.tally.counters;
                        record.counters.add(c);
                        metrics.batch(c);
                        (record.offset, record.line) = (at.offset, at.line);
                        let busy = ms(std::mem::replace(&mut last_commit, Instant::now()).elapsed());
                        (record.busy_ms, out.busy_ms) = (record.busy_ms + busy, out.busy_ms + busy);
                        (out.batches, out.entries) = (out.batches + 1, out.entries + c.entries);
                        let took = batch.started.elapsed();
                        log_batch(&record, batch.offset, c, took, &self.budget);
                        self.budget.record_batch(took);
                        dirty = true;
                        if let Some(verdict) = self.canary.as_ref().and_then(|w| w.verdict(before, &record.counters)) {
                            canary = Some(verdict);
                        }
                    }
                }
                Some((reader, gate, prepared)) = OptionFuture::from(prep.as_mut()) => {
                    prep = None;
                    self.idle = Some((reader, gate));
                    let (ready, ended) = match prepared? {
                        Prepared::Read(ready, ended) => (ready, ended),
                        Prepared::Ended(ended) => (None, Some(ended)),
                    };
                    end = ended;
                    if let Some(admitted) = ready {
                        self.read += admitted.entries;
                        sorting.push_back(Box::pin(reading::sort(ports, rules, *admitted)));
                    }
                }
                Some(sorted) = sorting.next(), if !sorting.is_empty() => {
                    let ready = sorted?;
                    let id = self.open(&mut window, &mut queue, ready);
                    if let Some(b) = window.get_mut(id).filter(|b| b.pending == 0) {
                        finishing.push(finish(ports, names, id, b));
                    }
                }
                Some((saved, written)) = OptionFuture::from(saving.as_mut()) => {
                    saving = None;
                    if !saved? {
                        return Ok(Ran::LostClaim(out));
                    }
                    // The write charged the meter's usage and moved the
                    // version and the lease; the counters have moved on.
                    record.version = written.version;
                    record.updated_at_ms = written.updated_at_ms;
                    record.lease_until_ms = written.lease_until_ms;
                    record.usage = written.usage;
                    metrics.checkpointed();
                }
                else => {
                    // Nothing open and nothing to start: the checks above
                    // rule it out; handing on from the checkpoint is safe.
                    tracing::error!(job_id = record.job_id, "the pipeline stalled; handing on");
                    end = Some(End::HandOff);
                }
            }
        }
    }

    /// Opens a sorted batch: renders its users and queues their devices.
    fn open(&self, window: &mut Window<Batch<'a>>, queue: &mut VecDeque<Queued<'a>>, ready: Ready) -> u64 {
        let Audience { counters, now, skipped_lines, deferred } = ready.audience;
        let read = ready.admitted;
        let batch = Batch {
            offset: read.offset,
            started: read.started,
            // The first batches after the checkpoint may have been open in
            // a link that died.
            may_be_resend: read.ordinal <= self.batches as u64,
            tally: Tally::new(counters, self.ports.settings().delivery_receipts),
            skipped: skipped_lines,
            deferred,
            pending: 0,
        };
        let id = window.open(read.end, batch);
        let mut pending = 0;
        for target in now {
            let (user, devices) = UserSend::render(self.renderers, target);
            for (index, device) in devices.into_iter().enumerate() {
                queue.push_back(Queued { batch: id, user: Arc::clone(&user), index, device });
                pending += 1;
            }
        }
        if let Some(b) = window.get_mut(id) {
            b.pending = pending;
        }
        id
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// One device waiting for a place in the request window.
struct Queued<'r> {
    batch: u64,
    user: Arc<UserSend<'r>>,
    /// Its position among the user's devices.
    index: usize,
    device: Device,
}

async fn dispatch<'r, P: Ports>(ports: &P, queued: Queued<'r>) -> (Queued<'r>, Final, u32) {
    let (outcome, retries) = send::one(ports, &queued.user, &queued.device).await;
    (queued, outcome, retries)
}

/// A batch whose sends are all answered: prunes its dead tokens and writes
/// its report parts and deferred chunks, named by its offset, while the
/// other batches send.
fn finish<'a, P: Ports>(
    ports: &'a P,
    names: &'a JobRecord,
    id: u64,
    batch: &mut Batch<'_>,
) -> impl Future<Output = (u64, Result<(), LinkError>)> + 'a {
    let dead = std::mem::take(&mut batch.tally.dead);
    let failed = batch.tally.failed_lines();
    let receipts = batch.tally.receipts.take();
    let skipped = std::mem::take(&mut batch.skipped);
    let deferred = std::mem::take(&mut batch.deferred);
    let (offset, resend) = (batch.offset, batch.may_be_resend);
    async move {
        let writes = async {
            // A resent batch replaces what an earlier attempt left, even
            // with nothing: failed.jsonl would re-drive devices delivered.
            if !failed.is_empty() || resend {
                reports::write_part(ports, names, Part::Failed, offset, &failed).await?;
            }
            if !skipped.is_empty() || resend {
                reports::write_part(ports, names, Part::Skipped, offset, &skipped).await?;
            }
            if let Some(receipts) = receipts.filter(|r| !r.is_empty() || resend) {
                reports::write_part(ports, names, Part::Receipts, offset, &receipts).await?;
            }
            if resend {
                parts::clear_chunks(ports, names, offset).await?;
            }
            parts::write_chunks(ports, names, offset, &deferred).await?;
            Ok::<(), LinkError>(())
        };
        let ((), written) = futures::join!(send::prune(ports, dead), writes);
        (id, written)
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
