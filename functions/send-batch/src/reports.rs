//! Writing a job's reports (`shared::report` names the keys): failures as
//! they happen, and the summary at the end.
//!
//! Failures, skipped users and delivery receipts are written per batch,
//! under a key named by the batch's offset, so a batch that is sent again
//! after a crash overwrites its own part instead of adding a second copy.
//! The parts are joined into `failed.jsonl`, `skipped.jsonl` and
//! `receipts.jsonl` when the job ends, streamed into a multipart upload:
//! memory does not grow with the failures.

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use futures::stream::{self, StreamExt};
use serde_json::Value;
use shared::clock::now_ms;
use shared::jobs::JobRecord;
use shared::objects::{ObjectError, ObjectList, ObjectRead, ObjectWrite, StreamedObject};
use shared::report::{
    Stopped, Summary, failed_key, failed_parts_prefix, receipts_key, receipts_parts_prefix, skipped_key,
    skipped_parts_prefix, summary_key,
};

use crate::deps::Ports;

/// A batch's name among its job's report parts. A shard's go with its
/// job's: offsets never overlap between shards, and the join at the end
/// reads them in file order. A deferred part reads another file, whose
/// offsets may be the job's own: its batches are named after its instant
/// too (and sort after the job's).
fn batch_name(record: &JobRecord, batch_offset: u64) -> String {
    match &record.part {
        Some(part) => format!("at{:015}-{batch_offset:020}", part.at_ms),
        None => format!("{batch_offset:020}"),
    }
}

/// A report written a part per batch and joined when the job ends.
#[derive(Debug, Clone, Copy)]
pub enum Part {
    /// The devices that failed (`failed.jsonl`).
    Failed,
    /// The users not sent, and why (`skipped.jsonl`).
    Skipped,
    /// Each delivery's receipt (`receipts.jsonl`). A batch resent after a
    /// crash replaces them with its new deliveries' (the earlier attempt's
    /// are lost, as the duplicate pushes themselves are only counted once).
    Receipts,
}

impl Part {
    fn prefix(self, job_id: &str) -> String {
        match self {
            Part::Failed => failed_parts_prefix(job_id),
            Part::Skipped => skipped_parts_prefix(job_id),
            Part::Receipts => receipts_parts_prefix(job_id),
        }
    }
}

/// One batch's lines of `part`, under a key named by the batch's offset.
pub async fn write_part<P: Ports>(
    ports: &P,
    record: &JobRecord,
    part: Part,
    batch_offset: u64,
    lines: &[String],
) -> Result<(), ObjectError> {
    let key = format!("{}{}.jsonl", part.prefix(record.report_job_id()), batch_name(record, batch_offset));
    // No lines: an empty part, replacing whatever an earlier attempt at the
    // same batch left.
    let mut body = lines.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    ports.objects().put(&record.bucket, &key, Bytes::from(body), "application/x-ndjson").await
}

/// The header of `failed.jsonl`: the job's own, marked as a re-drive of it.
fn redrive_header(record: &JobRecord) -> Value {
    // A job that wrote a failed part has a layout (it was sending); its
    // header came from JSON and goes back to JSON.
    let header = record.layout.as_ref().map(|l| serde_json::to_value(&l.header).expect("a header encodes as JSON"));
    let mut header = match header {
        Some(Value::Object(h)) => h,
        _ => serde_json::Map::new(),
    };
    header.insert("redrive_of".into(), Value::String(record.job_id.clone()));
    Value::Object(header)
}

/// A whole (small) object: a failed, skipped or deferred part.
pub async fn read_whole<P: Ports>(ports: &P, bucket: &str, key: &str) -> Result<Vec<u8>, ObjectError> {
    let info = ports.objects().head(bucket, key).await?;
    let mut reader = ports.objects().open(bucket, key, &info.etag, 0).await?;
    let mut out = Vec::with_capacity(info.size as usize);
    tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut out).await.map_err(|e| ObjectError::S3 {
        operation: "GetObject",
        bucket: bucket.into(),
        key: key.into(),
        source: Box::new(e),
    })?;
    Ok(out)
}

/// Parts read at once while joining: a job writes a part per batch when it
/// keeps receipts (2,000 for a million users), and one read after another
/// would keep the last link waiting at the end for minutes.
const JOIN_READS: usize = 16;

/// Joins the parts under `prefix` behind `head` (if any) into `key`, in
/// file order, into a multipart upload, so memory stays at the parts being
/// read and one upload buffer however many users failed; None when every
/// part is empty (resent batches whose lines all went away).
async fn join_parts<P: Ports>(
    ports: &P,
    bucket: &str,
    prefix: &str,
    head: Option<Value>,
    key: String,
) -> Result<Option<String>, ObjectError> {
    let parts = ports.objects().list(bucket, prefix).await?;
    let mut bodies =
        stream::iter(parts).map(|part| async move { read_whole(ports, bucket, &part).await }).buffered(JOIN_READS);
    let mut out = StreamedObject::new(ports.objects(), bucket, &key, "application/x-ndjson");
    let mut lines = 0u64;
    while let Some(body) = bodies.next().await {
        let written = async {
            let body = body?;
            if body.is_empty() {
                return Ok(());
            }
            if lines == 0
                && let Some(head) = &head
            {
                out.write(format!("{head}\n").as_bytes()).await?;
            }
            lines += 1;
            out.write(&body).await
        };
        if let Err(e) = written.await {
            out.abort().await;
            return Err(e);
        }
    }
    if lines == 0 {
        out.abort().await;
        return Ok(None);
    }
    out.finish().await?;
    Ok(Some(key))
}

/// Joins the parts behind a header line: the result is a valid batch file,
/// so copying it into `batches/` re-drives exactly the failures.
async fn write_failed_file<P: Ports>(ports: &P, record: &JobRecord) -> Result<Option<String>, ObjectError> {
    let prefix = Part::Failed.prefix(&record.job_id);
    join_parts(ports, &record.bucket, &prefix, Some(redrive_header(record)), failed_key(&record.job_id)).await
}

fn rfc3339(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(t) => t.to_rfc3339(),
        // Only a corrupt record holds a time chrono cannot represent.
        None => format!("{ms} ms after the epoch"),
    }
}

/// The reports joined from a job's parts, each where it is when there is one.
#[derive(Default)]
pub struct Joined {
    pub failed: Option<String>,
    pub skipped: Option<String>,
    pub receipts: Option<String>,
}

pub fn summary(record: &JobRecord, joined: Joined) -> Summary {
    let finished = now_ms();
    let header = record.layout.as_ref().map(|l| &l.header);
    let attempted = record.counters.total_devices().attempted;
    Summary {
        job_id: record.job_id.clone(),
        status: record.status.as_str().into(),
        reason: record.reason.clone(),
        bucket: record.bucket.clone(),
        key: record.key.clone(),
        etag: record.etag.clone(),
        campaign: header.map(|h| h.campaign.clone()),
        variant: header.and_then(|h| h.variant.clone()),
        category: header.and_then(|h| h.category.clone()),
        counters: record.counters.clone(),
        started_at: rfc3339(record.started_at_ms),
        finished_at: rfc3339(finished),
        duration_ms: (finished - record.started_at_ms).max(0) as u64,
        busy_ms: record.busy_ms,
        invocations: record.invocations,
        sends_per_second: if record.busy_ms > 0 { attempted as f64 * 1000.0 / record.busy_ms as f64 } else { 0.0 },
        shards: record.shards.as_ref().map(|s| s.count()),
        failed_report: joined.failed,
        skipped_report: joined.skipped,
        receipts_report: joined.receipts,
        total_entries: record.total_entries,
        cost: Some(shared::cost::Receipt::of(&record.usage, record.counters.total_devices().delivered)),
        stopped: record.stop.as_ref().map(|stop| Stopped {
            by: stop.by.clone(),
            reason: stop.reason.clone(),
            at: rfc3339(stop.at_ms),
            offset: stop.offset,
            // Never read, and read but waiting for a part that did not run.
            users_not_sent: record
                .total_entries
                .map(|total| total.saturating_sub(record.counters.entries) + record.counters.deferred),
        }),
    }
}

pub async fn write_summary<P: Ports>(ports: &P, record: &JobRecord) -> Result<(), ObjectError> {
    let job_id = &record.job_id;
    let joined = Joined {
        failed: write_failed_file(ports, record).await?,
        skipped: join_parts(ports, &record.bucket, &Part::Skipped.prefix(job_id), None, skipped_key(job_id)).await?,
        receipts: match ports.settings().delivery_receipts {
            true => {
                join_parts(ports, &record.bucket, &Part::Receipts.prefix(job_id), None, receipts_key(job_id)).await?
            }
            false => None,
        },
    };
    let summary = summary(record, joined);
    // Strings, numbers and maps with string keys: serde_json cannot fail.
    let body = serde_json::to_vec_pretty(&summary).expect("a summary encodes as JSON");
    ports.objects().put(&record.bucket, &summary_key(&record.job_id), Bytes::from(body), "application/json").await
}

#[cfg(test)]
mod tests {
    use shared::jobs::{JobRecord, PartOf};

    #[test]
    fn a_parts_batches_never_share_a_name_with_its_jobs() {
        let job = JobRecord::new("j", "b", "k", "e", 0);
        let mut part = JobRecord::new("j#at60000", "b", "r", "e", 0);
        part.part = Some(PartOf { parent: "j".into(), at_ms: 60_000 });
        assert_eq!(super::batch_name(&job, 120), "00000000000000000120");
        assert_eq!(super::batch_name(&part, 120), "at000000000060000-00000000000000000120");
    }
}
