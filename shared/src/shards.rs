//! Fan-out: a large JSONL file cut into byte-range shards, each sent by its
//! own chain, rolled up into one job.
//!
//! A shard is a job record of its own (`<job>#shard003`) with an end
//! offset, so every claim, checkpoint and handoff rule of a single chain
//! holds per shard. The job's record keeps the cut and the roll-up: a
//! finishing shard adds its counters there once, and the shard that
//! completes the set writes the summary.

use std::time::Duration;

use crate::jobs::{FinishedShard, JobError, JobRead, JobRecord, ShardOf, shard_id};
use crate::objects::{ObjectError, ObjectRead};
use bytes::Bytes;

/// When a file is worth cutting, and into how many shards.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardPolicy {
    /// Files whose user part is smaller than this run as one chain.
    pub min_bytes: u64,
    /// The concurrency cap: never more chains than this for one job.
    pub max_shards: u32,
    /// How long a job should take at most.
    pub target: Duration,
    /// What one chain sends, users per second (from the benchmarks).
    pub chain_users_per_second: f64,
    /// Users per second a shared provider quota lets through, when one is
    /// set: chains beyond what it feeds would only wait for tokens, billed.
    pub quota_users_per_second: Option<f64>,
}

impl ShardPolicy {
    /// Never shards.
    pub const SINGLE_CHAIN: ShardPolicy = ShardPolicy {
        min_bytes: u64::MAX,
        max_shards: 1,
        target: Duration::from_secs(900),
        chain_users_per_second: 1.0,
        quota_users_per_second: None,
    };

    /// Shards for `body_bytes` of entries averaging `bytes_per_user`: enough
    /// chains to finish within the target, capped by `max_shards` and by
    /// what the quota can feed.
    pub fn shard_count(&self, body_bytes: u64, bytes_per_user: f64) -> u32 {
        if body_bytes < self.min_bytes || self.max_shards <= 1 {
            return 1;
        }
        let users = body_bytes as f64 / bytes_per_user.max(1.0);
        let per_chain = (self.chain_users_per_second * self.target.as_secs_f64()).max(1.0);
        let wanted = (users / per_chain).ceil();
        let cap = match self.quota_users_per_second {
            // Twice the chains the quota feeds: the quota counts one
            // provider's devices, about half of a mixed audience's.
            Some(q) => ((2.0 * q / self.chain_users_per_second.max(1.0)).ceil() as u32).clamp(1, self.max_shards),
            None => self.max_shards,
        };
        if wanted >= cap as f64 { cap } else { (wanted as u32).max(1) }
    }
}

/// A shard's record as it starts: nobody holds it, link 0, at its range.
pub fn shard_record(parent: &JobRecord, index: u32, now_ms: i64) -> Option<JobRecord> {
    let (start, end) = parent.shards.as_ref()?.range(index)?;
    let first = index == 0;
    Some(JobRecord {
        offset: start,
        // Line numbers are known only from the start of the file.
        line: if first { parent.line } else { 0 },
        layout: parent.layout.clone(),
        shard: Some(ShardOf { parent: parent.job_id.clone(), index, end }),
        ..JobRecord::new(&shard_id(&parent.job_id, index), &parent.bucket, &parent.key, &parent.etag, now_ms)
    })
}

/// Adds a finished shard into its job; false if it was counted already
/// (a retry of a shard that crashed after rolling up).
pub fn roll_up(parent: &mut JobRecord, shard: &JobRecord) -> bool {
    let (Some(set), Some(of)) = (parent.shards.as_mut(), shard.shard.as_ref()) else {
        return false;
    };
    if set.is_finished(of.index) {
        return false;
    }
    set.finished.push(FinishedShard { index: of.index, status: shard.status, reason: shard.reason.clone() });
    // The job's stop is its first stopped shard's: every shard stops on the
    // same control, at its own offset.
    if let Some(stop) = &shard.stop
        && parent.stop.as_ref().is_none_or(|s| stop.offset < s.offset)
    {
        parent.stop = Some(stop.clone());
    }
    parent.counters.add(&shard.counters);
    parent.busy_ms += shard.busy_ms;
    parent.invocations += shard.invocations;
    parent.usage.add(&shard.usage);
    true
}

/// Every shard's record, in order (missing ones are skipped: a planner
/// that died before creating them is re-run by the upload's retry).
pub async fn shard_records<J: JobRead>(jobs: &J, parent: &JobRecord) -> Result<Vec<JobRecord>, JobError> {
    let Some(set) = &parent.shards else { return Ok(Vec::new()) };
    let mut out = Vec::with_capacity(set.count() as usize);
    for index in 0..set.count() {
        if let Some(r) = jobs.get(&shard_id(&parent.job_id, index)).await? {
            out.push(r);
        }
    }
    Ok(out)
}

/// A running sharded job as of its shards: the job's record holds what
/// finished shards rolled up, the rest is on the running shards' records.
/// Read the job first, then its shards: a shard the job lists as finished
/// is counted from the job only, so none is counted twice or missed.
pub fn live(parent: &JobRecord, shards: &[JobRecord]) -> JobRecord {
    let mut job = parent.clone();
    let Some(set) = &parent.shards else { return job };
    for shard in shards {
        if shard.shard.as_ref().is_some_and(|of| of.parent == parent.job_id && !set.is_finished(of.index)) {
            job.counters.add(&shard.counters);
            job.busy_ms += shard.busy_ms;
            job.invocations += shard.invocations;
            job.usage.add(&shard.usage);
        }
    }
    job
}

/// Bytes read at a time when looking for a line's end.
const PROBE_BYTES: u64 = 64 * 1024;
/// No JSONL line is longer than the reader accepts.
const LONGEST_LINE: u64 = crate::batch::DEFAULT_MAX_ENTRY_BYTES as u64;

/// A sample of the entries at `start`, for the average entry size: the
/// bytes per line it holds, or None when not one line ends in it.
pub async fn bytes_per_line<O: ObjectRead>(
    objects: &O,
    file: &FileRef<'_>,
    start: u64,
) -> Result<Option<f64>, ObjectError> {
    let sample = objects.read_range(file.bucket, file.key, file.etag, start, PROBE_BYTES).await?;
    let lines = sample.iter().filter(|b| **b == b'\n').count();
    let last = sample.iter().rposition(|b| *b == b'\n');
    Ok(last.filter(|_| lines > 0).map(|l| (l + 1) as f64 / lines as f64))
}

pub struct FileRef<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub etag: &'a str,
}

/// Cuts `start..end` of a JSONL file into at most `count` ranges that each
/// begin at a line start, with a few small ranged reads near each cut.
/// Returns the bounds (first `start`, last `end`); fewer shards when lines
/// are so long that cuts meet.
pub async fn cut<O: ObjectRead>(
    objects: &O,
    file: &FileRef<'_>,
    start: u64,
    end: u64,
    count: u32,
) -> Result<Vec<u64>, ObjectError> {
    let mut bounds = vec![start];
    for i in 1..count as u64 {
        let target = start + (end - start) * i / count as u64;
        let at = line_start_at_or_after(objects, file, target.max(start + 1), end).await?;
        if at > *bounds.last().unwrap_or(&start) && at < end {
            bounds.push(at);
        }
    }
    bounds.push(end);
    Ok(bounds)
}

/// The first line start at or after `target`: the byte after the first
/// newline at or after `target - 1`; `end` if there is none before it.
async fn line_start_at_or_after<O: ObjectRead>(
    objects: &O,
    file: &FileRef<'_>,
    target: u64,
    end: u64,
) -> Result<u64, ObjectError> {
    let mut from = target - 1;
    let mut window = PROBE_BYTES;
    while from < end && from < target + LONGEST_LINE {
        let len = window.min(end - from);
        let bytes: Bytes = objects.read_range(file.bucket, file.key, file.etag, from, len).await?;
        if let Some(i) = bytes.iter().position(|b| *b == b'\n') {
            return Ok(from + i as u64 + 1);
        }
        if (bytes.len() as u64) < len {
            break;
        }
        from += len;
        // A long line: read more at a time, but never the whole file.
        window = (window * 2).min(4 * 1024 * 1024);
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::Counters;
    use crate::jobs::{JobStatus, JobWrite, MemoryJobs, ShardSet};
    use crate::objects::MemoryObjects;

    fn policy() -> ShardPolicy {
        ShardPolicy {
            min_bytes: 1000,
            max_shards: 8,
            target: Duration::from_secs(100),
            chain_users_per_second: 10.0,
            quota_users_per_second: None,
        }
    }

    #[test]
    fn shard_count_follows_size_target_and_cap() {
        let p = policy();
        assert_eq!(p.shard_count(999, 1.0), 1, "below the threshold");
        // 1,000 users per chain within the target.
        assert_eq!(p.shard_count(20_000, 10.0), 2);
        assert_eq!(p.shard_count(20_001, 10.0), 3);
        assert_eq!(p.shard_count(10_000_000, 10.0), 8, "capped");
        assert_eq!(ShardPolicy { max_shards: 1, ..p.clone() }.shard_count(10_000_000, 10.0), 1);
        // A quota of 25 users a second feeds 2.5 chains of 10: 5 with headroom.
        let fed = ShardPolicy { quota_users_per_second: Some(25.0), ..p.clone() };
        assert_eq!(fed.shard_count(10_000_000, 10.0), 5, "more would only wait for tokens");
        assert_eq!(fed.shard_count(20_000, 10.0), 2, "the target still decides below it");
        assert_eq!(ShardPolicy { quota_users_per_second: Some(0.1), ..p }.shard_count(10_000_000, 10.0), 1);
    }

    fn file(lines: &[&str]) -> (MemoryObjects, String, Vec<u64>) {
        let objects = MemoryObjects::default();
        let mut body = String::new();
        let mut starts = Vec::new();
        for l in lines {
            starts.push(body.len() as u64);
            body.push_str(l);
            body.push('\n');
        }
        let etag = objects.insert("b", "k.jsonl", body);
        (objects, etag, starts)
    }

    #[tokio::test]
    async fn cuts_land_on_line_starts_and_cover_the_range() {
        let lines: Vec<String> = (0..1000).map(|i| format!("{{\"user_id\":\"u{i}\"}}{}", " ".repeat(i % 37))).collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let (objects, etag, starts) = file(&refs);
        let f = FileRef { bucket: "b", key: "k.jsonl", etag: &etag };
        let end = objects.head("b", "k.jsonl").await.unwrap().size;
        for count in [1, 2, 3, 7, 16] {
            let bounds = cut(&objects, &f, starts[1], end, count).await.unwrap();
            assert_eq!(bounds.len(), count as usize + 1, "{count}");
            assert_eq!((bounds[0], *bounds.last().unwrap()), (starts[1], end));
            assert!(bounds.windows(2).all(|w| w[0] < w[1]));
            for b in &bounds[..bounds.len() - 1] {
                assert!(starts.contains(b), "{b} is not a line start");
            }
        }
    }

    #[tokio::test]
    async fn a_cut_inside_a_long_line_moves_past_it_and_cuts_can_merge() {
        let long = format!("{{\"user_id\":\"x\",\"vars\":{{\"p\":\"{}\"}}}}", "a".repeat(300_000));
        let (objects, etag, starts) = file(&["{\"h\":1}", &long, "{\"user_id\":\"y\"}"]);
        let f = FileRef { bucket: "b", key: "k.jsonl", etag: &etag };
        let end = objects.head("b", "k.jsonl").await.unwrap().size;
        let bounds = cut(&objects, &f, starts[1], end, 4).await.unwrap();
        assert_eq!(bounds, vec![starts[1], starts[2], end], "three cuts inside one line become one");
        assert_eq!(bytes_per_line(&objects, &f, starts[1]).await.unwrap(), None, "no line ends in the sample");
        assert!(bytes_per_line(&objects, &f, starts[2]).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_changed_file_is_not_cut() {
        let (objects, _, _) = file(&["{}", "{}"]);
        let f = FileRef { bucket: "b", key: "k.jsonl", etag: "stale" };
        assert!(matches!(cut(&objects, &f, 3, 6, 2).await, Err(ObjectError::Changed { .. })));
    }

    fn parent() -> JobRecord {
        let mut r = crate::jobs::sample();
        r.job_id = "job".into();
        r.shards = Some(ShardSet::new(vec![10, 20, 30]));
        r.counters = Counters::default();
        r.busy_ms = 0;
        r.invocations = 1;
        r
    }

    #[tokio::test]
    async fn shards_roll_up_once_and_the_set_completes() {
        let mut job = parent();
        let mut a = shard_record(&job, 0, 5).unwrap();
        let mut b = shard_record(&job, 1, 5).unwrap();
        assert!(shard_record(&job, 2, 5).is_none());
        assert_eq!((a.offset, a.shard.as_ref().unwrap().end), (10, 20));
        assert_eq!((b.job_id.as_str(), b.offset, b.line), ("job#shard001", 20, 0));
        assert_eq!(b.report_job_id(), "job");
        let jobs = MemoryJobs::default();
        jobs.create(&a).await.unwrap();
        jobs.create(&b).await.unwrap();
        assert_eq!(shard_records(&jobs, &job).await.unwrap().len(), 2);

        a.status = JobStatus::Done;
        a.counters.entries = 7;
        a.invocations = 2;
        b.status = JobStatus::Failed;
        b.reason = Some("malformed JSON at byte 25".into());
        b.counters.entries = 3;
        assert!(roll_up(&mut job, &a));
        let running = live(&job, &[a.clone(), b.clone()]);
        assert_eq!(running.counters.entries, 10, "finished from the job, running from its record");
        assert!(!roll_up(&mut job, &a), "a retried shard is counted once");
        assert!(!job.shards.as_ref().unwrap().is_complete());
        assert!(roll_up(&mut job, &b));
        let set = job.shards.as_ref().unwrap();
        assert!(set.is_complete());
        assert_eq!((job.counters.entries, job.invocations), (10, 3));
        assert_eq!(set.outcome(), (JobStatus::Failed, Some("shard 1: malformed JSON at byte 25".into())));
    }
}
