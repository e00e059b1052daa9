//! `reports/<job>/`: failures as they happen, and the summary at the end.
//!
//! Failures are written per batch, under a key named by the batch's offset,
//! so a batch that is sent again after a crash overwrites its own part
//! instead of adding a second copy. The parts are joined into
//! `failed.jsonl` when the job ends.

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use serde_json::Value;
use shared::jobs::JobRecord;
use shared::objects::{ObjectError, ObjectList, ObjectRead, ObjectWrite};
use shared::report::Summary;

use crate::deps::Ports;
use crate::job::{json_bytes, now_ms};

pub fn prefix(job_id: &str) -> String {
    format!("reports/{job_id}/")
}

fn parts_prefix(job_id: &str) -> String {
    format!("reports/{job_id}/failed-parts/")
}

pub fn failed_key(job_id: &str) -> String {
    format!("reports/{job_id}/failed.jsonl")
}

pub fn summary_key(job_id: &str) -> String {
    format!("reports/{job_id}/summary.json")
}

pub async fn write_failed_part<P: Ports>(
    ports: &P,
    record: &JobRecord,
    batch_offset: u64,
    lines: &[String],
) -> Result<(), ObjectError> {
    // A shard's parts go with its job's: offsets never overlap between
    // shards, and the join at the end reads them in file order.
    let key = format!("{}{batch_offset:020}.jsonl", parts_prefix(shared::shards::report_job(record)));
    // No lines: an empty part, replacing whatever an earlier attempt at the
    // same batch left.
    let mut body = lines.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    ports.objects().put(&record.bucket, &key, Bytes::from(body), "application/x-ndjson").await
}

/// Joins the parts behind a header line: the result is a valid batch file,
/// so copying it into `batches/` re-drives exactly the failures.
async fn write_failed_file<P: Ports>(ports: &P, record: &JobRecord) -> Result<Option<String>, ObjectError> {
    let parts = ports.objects().list(&record.bucket, &parts_prefix(&record.job_id)).await?;
    if parts.is_empty() {
        return Ok(None);
    }
    let mut header = match record.layout.as_ref().map(|l| serde_json::to_value(&l.header)) {
        Some(Ok(Value::Object(h))) => h,
        _ => Default::default(),
    };
    header.insert("redrive_of".into(), Value::String(record.job_id.clone()));
    let mut body = Value::Object(header).to_string().into_bytes();
    body.push(b'\n');
    let header_len = body.len();
    for part in parts {
        let info = ports.objects().head(&record.bucket, &part).await?;
        let mut reader = ports.objects().open(&record.bucket, &part, &info.etag, 0).await?;
        tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut body).await.map_err(|e| ObjectError::S3 {
            operation: "GetObject",
            bucket: record.bucket.clone(),
            key: part.clone(),
            message: e.to_string(),
        })?;
    }
    if body.len() == header_len {
        // Only empty parts: resent batches whose failures all went away.
        return Ok(None);
    }
    let key = failed_key(&record.job_id);
    ports.objects().put(&record.bucket, &key, Bytes::from(body), "application/x-ndjson").await?;
    Ok(Some(key))
}

pub fn summary(record: &JobRecord, failed_report: Option<String>) -> Summary {
    let finished = now_ms();
    let at = |ms: i64| Utc.timestamp_millis_opt(ms).single().map(|t| t.to_rfc3339()).unwrap_or_default();
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
        started_at: at(record.started_at_ms),
        finished_at: at(finished),
        duration_ms: (finished - record.started_at_ms).max(0) as u64,
        busy_ms: record.busy_ms,
        invocations: record.invocations,
        sends_per_second: if record.busy_ms > 0 { attempted as f64 * 1000.0 / record.busy_ms as f64 } else { 0.0 },
        shards: record.shards.as_ref().map(|s| s.count()),
        failed_report,
    }
}

pub async fn write_summary<P: Ports>(ports: &P, record: &JobRecord) -> Result<(), ObjectError> {
    let failed = write_failed_file(ports, record).await?;
    let summary = summary(record, failed);
    ports.objects().put(&record.bucket, &summary_key(&record.job_id), json_bytes(&summary), "application/json").await
}
