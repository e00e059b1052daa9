//! The pipeline's reading side, in two stages. The first, one batch at a
//! time because it holds the reader and the gate: the control check, the
//! next entries, the rate's admission. The second, which several batches
//! may be in at once: the sort (`audience`: device and settings lookups,
//! caps). Splitting them lets the next batch be checked and read while the
//! last one waits for DynamoDB, instead of each batch's round trips
//! following the one before (bench/pipeline measures the difference).

use std::time::Instant;

use shared::batch::{EntryReader, RawItem, ReadError};
use shared::chain::TimeBudget;
use shared::jobs::Control;
use shared::objects::ByteReader;

use crate::audience::{self, Audience, Rules};
use crate::deps::Ports;
use crate::gate::{Gate, Verdict};
use crate::link::LinkError;
use crate::window::Position;

/// Why the reading stopped.
pub enum End {
    Eof,
    Broken(ReadError),
    /// The time is running low.
    HandOff,
    /// The rate would have kept the next batch waiting past the time left.
    Throttled,
    Stop(Control),
    Pause(Control),
}

/// A batch read and admitted, not yet sorted.
pub struct Admitted {
    pub offset: u64,
    pub entries: u64,
    /// Where the reader stood after it.
    pub end: Position,
    /// Its place among the batches this link read (1 for the first): the
    /// first `PIPELINE_BATCHES` may have been sent by a link that died.
    pub ordinal: u64,
    pub started: Instant,
    items: Vec<RawItem>,
}

/// A batch read, admitted and sorted.
pub struct Ready {
    pub admitted: Admitted,
    pub audience: Audience,
}

pub enum Prepared {
    /// A batch (none when the reader had nothing left), and the end the
    /// reader reached with it.
    Read(Option<Box<Admitted>>, Option<End>),
    Ended(End),
}

/// What the first stage is asked for.
pub struct Ask {
    /// Read the control first (every batch but a link's first).
    pub check: bool,
    /// Entries at most.
    pub limit: usize,
    pub ordinal: u64,
}

/// Checks the control, reads and admits the next batch; gives the reader
/// and the gate back with it.
pub async fn read<P: Ports>(
    ports: &P,
    mut reader: EntryReader<ByteReader>,
    mut gate: Gate,
    ask: Ask,
    budget: TimeBudget,
) -> (EntryReader<ByteReader>, Gate, Result<Prepared, LinkError>) {
    let prepared = async {
        if ask.check {
            match gate.check(ports).await? {
                Verdict::Stop(control) => return Ok(Prepared::Ended(End::Stop(control))),
                Verdict::Pause(control) => return Ok(Prepared::Ended(End::Pause(control))),
                Verdict::Go => {}
            }
        }
        let started = Instant::now();
        let mut items = Vec::with_capacity(ask.limit);
        let end = read_batch(&mut reader, ask.limit, &mut items).await?;
        let Some(offset) = items.first().map(|i| i.offset) else { return Ok(Prepared::Read(None, end)) };
        // The rate: when the time runs out waiting for it, nothing of this
        // batch is sent and the next link reads it again.
        if !gate.admit(items.len() as u64, &budget).await? {
            return Ok(Prepared::Ended(End::Throttled));
        }
        let entries = items.len() as u64;
        let at = Position { offset: reader.position(), line: reader.line() };
        let admitted = Admitted { offset, entries, end: at, ordinal: ask.ordinal, started, items };
        Ok(Prepared::Read(Some(Box::new(admitted)), end))
    }
    .await;
    (reader, gate, prepared)
}

/// The second stage: who in the batch is pushed now, and why not the others.
pub async fn sort<P: Ports>(ports: &P, rules: &Rules<'_>, mut admitted: Admitted) -> Result<Ready, LinkError> {
    let items = std::mem::take(&mut admitted.items);
    let audience = audience::sort(ports, rules, items).await?;
    Ok(Ready { admitted, audience })
}

/// Up to `size` entries; the end the reader reached, if it did.
async fn read_batch(
    reader: &mut EntryReader<ByteReader>,
    size: usize,
    items: &mut Vec<RawItem>,
) -> Result<Option<End>, LinkError> {
    while items.len() < size {
        match reader.next_entry().await {
            Ok(Some(item)) => items.push(item),
            Ok(None) => return Ok(Some(End::Eof)),
            Err(ReadError::Io(e)) => return Err(LinkError::Read(e)),
            Err(e) => return Ok(Some(End::Broken(e))),
        }
    }
    Ok(None)
}
