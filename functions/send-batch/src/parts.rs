//! A job's deferred parts: users who get the push later, at their local
//! `deliver_at_local` or when their quiet hours end.
//!
//! While the job reads its file, each batch writes its deferred users under
//! `reports/<job>/deferred/<instant>/<batch offset>.jsonl` (a resent batch
//! replaces its own chunks). When the job's pass over the file ends (its
//! chain, or its last shard), each instant's chunks are joined into a batch
//! file, `reports/<job>/parts/<instant>.jsonl`, with the job's header, and a
//! part record `<job>#at<instant>` is created as `scheduled`, with a one-time
//! schedule at its instant. A part is a chain like any other (claims,
//! checkpoints, controls); it never defers again, and when it finishes it
//! rolls into the job, which is done only when its last part is.

use bytes::Bytes;
use serde_json::Value;
use shared::batch::{Encoding, Layout, discover};
use shared::chain::{Continuation, ContinuationEvent};
use shared::clock::now_ms;
use shared::jobs::{FinishedPart, JobError, JobRead, JobRecord, JobStatus, JobWrite, PartOf, PartSet, part_id};
use shared::objects::{ObjectError, ObjectList, ObjectRead, ObjectWrite};
use shared::report::{deferred_prefix, part_file_key};
use shared::schedules::{OneTime, ScheduleJobs, schedule_name};

use crate::deps::Ports;
use crate::link::{Link, LinkError};
use crate::reports;

/// Conditional writes to the job race only its other parts finishing.
const ROLL_UP_ATTEMPTS: usize = 64;

fn chunk_key(job: &str, at_ms: i64, batch_offset: u64) -> String {
    format!("{}{batch_offset:020}.jsonl", deferred_prefix(job, at_ms))
}

/// One batch's deferred users, by instant.
pub async fn write_chunks<P: Ports>(
    ports: &P,
    record: &JobRecord,
    batch_offset: u64,
    deferred: &std::collections::BTreeMap<i64, Vec<String>>,
) -> Result<(), ObjectError> {
    let job = record.report_job_id();
    for (at, lines) in deferred {
        let mut body = lines.join("\n");
        body.push('\n');
        ports
            .objects()
            .put(&record.bucket, &chunk_key(job, *at, batch_offset), Bytes::from(body), "application/x-ndjson")
            .await?;
    }
    Ok(())
}

/// A batch sent again after a crash may defer its users to other instants
/// than the first attempt did: its old chunks are emptied first.
pub async fn clear_chunks<P: Ports>(ports: &P, record: &JobRecord, batch_offset: u64) -> Result<(), ObjectError> {
    let job = record.report_job_id();
    let all = format!("reports/{job}/deferred/");
    let name = format!("/{batch_offset:020}.jsonl");
    for key in ports.objects().list(&record.bucket, &all).await? {
        if key.ends_with(&name) {
            ports.objects().put(&record.bucket, &key, Bytes::new(), "application/x-ndjson").await?;
        }
    }
    Ok(())
}

/// The instants some batch deferred users to.
async fn instants<P: Ports>(ports: &P, job: &JobRecord) -> Result<Vec<i64>, ObjectError> {
    let all = format!("reports/{}/deferred/", job.job_id);
    let mut out: Vec<i64> = ports
        .objects()
        .list(&job.bucket, &all)
        .await?
        .iter()
        .filter_map(|k| k.strip_prefix(&all)?.split('/').next()?.parse().ok())
        .collect();
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The header a part's file carries: the job's, without what the job's own
/// pass already did (`deliver_at_local`, the canary, `send_at`, the count).
fn part_header(job: &JobRecord) -> Result<Value, LinkError> {
    let layout = job.layout.as_ref().ok_or_else(|| LinkError::NoLayout(job.job_id.clone()))?;
    let mut header = serde_json::to_value(&layout.header).expect("a header encodes as JSON");
    if let Value::Object(h) = &mut header {
        for key in ["deliver_at_local", "canary", "send_at", "expected_users"] {
            h.remove(key);
        }
        h.insert("part_of".into(), Value::String(job.job_id.clone()));
    }
    Ok(header)
}

/// Joins one instant's chunks into the part's batch file; returns its
/// ETag, layout and entry count.
async fn write_part_file<P: Ports>(ports: &P, job: &JobRecord, at_ms: i64) -> Result<(String, Layout, u64), LinkError> {
    let mut body = part_header(job)?.to_string().into_bytes();
    body.push(b'\n');
    let mut entries = 0u64;
    for key in ports.objects().list(&job.bucket, &deferred_prefix(&job.job_id, at_ms)).await? {
        let chunk = reports::read_whole(ports, &job.bucket, &key).await?;
        entries += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        body.extend_from_slice(&chunk);
    }
    let key = part_file_key(&job.job_id, at_ms);
    let bytes = Bytes::from(body);
    ports.objects().put(&job.bucket, &key, bytes.clone(), "application/x-ndjson").await?;
    let etag = ports.objects().head(&job.bucket, &key).await?.etag;
    let layout = discover(&bytes[..], Encoding::Jsonl).await.map_err(|e| match e {
        shared::batch::ReadError::Io(io) => LinkError::Read(io),
        other => LinkError::Jobs(JobError::Corrupt { job_id: key.clone(), message: other.to_string() }),
    })?;
    Ok((etag, layout, entries))
}

/// The job's pass over its file is over and some users were deferred:
/// creates every part (record and schedule), idempotently. The caller then
/// records the `PartSet` on the job.
pub async fn start<P: Ports>(ports: &P, link: &Link, job: &JobRecord) -> Result<PartSet, LinkError> {
    let due = instants(ports, job).await?;
    for &at in &due {
        let id = part_id(&job.job_id, at);
        let record = match ports.jobs().get(&id).await? {
            Some(existing) => existing,
            None => {
                let (etag, layout, entries) = write_part_file(ports, job, at).await?;
                let record = JobRecord {
                    status: JobStatus::Scheduled,
                    offset: layout.users_start,
                    line: layout.first_line,
                    layout: Some(layout),
                    total_entries: Some(entries),
                    send_at_ms: Some(at),
                    part: Some(PartOf { parent: job.job_id.clone(), at_ms: at }),
                    ..JobRecord::new(&id, &job.bucket, &part_file_key(&job.job_id, at), &etag, now_ms())
                };
                ports.jobs().create(&record).await?;
                record
            }
        };
        let payload = ContinuationEvent { next: Continuation::of(&record) }.to_json();
        let schedule = OneTime { name: schedule_name(&id), at_ms: at, target_arn: link.function_arn.clone(), payload };
        ports.schedules().create(&schedule).await?;
        tracing::info!(
            job_id = job.job_id,
            part = id,
            at_ms = at,
            users = record.total_entries,
            "deferred part scheduled"
        );
    }
    Ok(PartSet { due, finished: Vec::new(), main_done: true })
}

/// What finishing a part did to its job.
pub enum PartRolledUp {
    Waiting { pending: usize },
    Finished(Box<JobRecord>),
    AlreadyFinished,
}

/// Adds a finished part into its job (once, whatever the retries), and
/// when it is the last, writes the summary and finishes the job.
pub async fn roll_up<P: Ports>(ports: &P, part: &JobRecord) -> Result<PartRolledUp, LinkError> {
    let Some(of) = &part.part else { return Err(LinkError::NotSharded(part.job_id.clone())) };
    for _ in 0..ROLL_UP_ATTEMPTS {
        let Some(mut job) = ports.jobs().get(&of.parent).await? else {
            return Err(
                JobError::Corrupt { job_id: part.job_id.clone(), message: "its job has no record".into() }.into()
            );
        };
        if job.status.is_terminal() {
            return Ok(PartRolledUp::AlreadyFinished);
        }
        let expected = job.version;
        let Some(set) = job.parts.as_mut() else {
            return Err(JobError::Corrupt { job_id: job.job_id, message: "a part's job has no parts".into() }.into());
        };
        if set.is_finished(of.at_ms) {
            return Ok(PartRolledUp::Waiting { pending: set.pending().len() });
        }
        set.finished.push(FinishedPart { at_ms: of.at_ms, status: part.status, reason: part.reason.clone() });
        let complete = set.is_complete();
        let outcome = outcome(set);
        job.counters.absorb_part(&part.counters);
        job.busy_ms += part.busy_ms;
        job.invocations += part.invocations;
        job.usage.add(&part.usage);
        if let Some(stop) = &part.stop
            && job.stop.is_none()
        {
            job.stop = Some(stop.clone());
        }
        if complete {
            (job.status, job.reason) = outcome;
        }
        job.version += 1;
        job.updated_at_ms = now_ms();
        if complete {
            reports::write_summary(ports, &job).await?;
        }
        if ports.jobs().replace(&job, expected).await? {
            return Ok(if complete {
                PartRolledUp::Finished(Box::new(job))
            } else {
                PartRolledUp::Waiting { pending: job.parts.as_ref().map_or(0, |s| s.pending().len()) }
            });
        }
    }
    Err(LinkError::RollUpContended {
        job_id: of.parent.clone(),
        shard: part.job_id.clone(),
        attempts: ROLL_UP_ATTEMPTS,
    })
}

/// The job's status once every part has finished.
fn outcome(set: &PartSet) -> (JobStatus, Option<String>) {
    let worst = |s: JobStatus| set.finished.iter().any(|f| f.status == s);
    let status = [JobStatus::Aborted, JobStatus::Stopped, JobStatus::Failed]
        .into_iter()
        .find(|s| worst(*s))
        .unwrap_or(JobStatus::Done);
    let reasons: Vec<String> = set
        .finished
        .iter()
        .filter(|f| f.status != JobStatus::Done)
        .map(|f| format!("part at {}: {}", f.at_ms, f.reason.as_deref().unwrap_or(f.status.as_str())))
        .collect();
    (status, (!reasons.is_empty()).then(|| reasons.join("; ")))
}
