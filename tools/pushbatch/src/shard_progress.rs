//! A sharded job's live progress, from its record and its shards' records.
//!
//! While shards run, the job's record holds only what finished shards
//! rolled up; the rest is on the running shards' own records. Reading the
//! job first and then its shards, a shard the job lists as finished is
//! taken from the job (it was added there once) and any other from its own
//! record, so nothing is counted twice or missed.

use indicatif::{MultiProgress, ProgressBar};
use serde_json::json;
use shared::counters::Counters;
use shared::jobs::JobRecord;
use shared::jobs::ShardSet;

use crate::table;

/// The whole job, summed over its shards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WholeJob {
    /// Bytes of the file's user part sent so far.
    pub done: u64,
    /// The file's user part: from the first shard's start to the last's end.
    pub total: u64,
    pub counters: Counters,
    pub invocations: u64,
    pub shards: u32,
    pub finished: u32,
}

/// One shard's bytes sent and the size of its range; None when the record
/// is not a shard of this set.
pub fn shard_bytes(set: &ShardSet, shard: &JobRecord) -> Option<(u64, u64)> {
    let index = shard.shard.as_ref()?.index;
    let (start, end) = set.range(index)?;
    let size = end.saturating_sub(start);
    if shard.status == shared::jobs::JobStatus::Done {
        return Some((size, size));
    }
    Some((shard.offset.saturating_sub(start).min(size), size))
}

/// Sums a sharded job; `shards` are its shards' records as read after the
/// job's (a missing one has not started: nothing done).
pub fn whole_job(parent: &JobRecord, shards: &[JobRecord]) -> WholeJob {
    let set = parent.shards.clone().unwrap_or_else(|| ShardSet::new(Vec::new()));
    let total = match (set.bounds.first(), set.bounds.last()) {
        (Some(first), Some(last)) => last.saturating_sub(*first),
        _ => 0,
    };
    let summed = shared::shards::live(parent, shards);
    let mut whole = WholeJob {
        done: 0,
        total,
        counters: summed.counters,
        invocations: summed.invocations,
        shards: set.count(),
        finished: (0..set.count()).filter(|i| set.is_finished(*i)).count() as u32,
    };
    for index in 0..set.count() {
        let record = shards.iter().find(|r| r.shard.as_ref().is_some_and(|s| s.index == index));
        let finished = set.is_finished(index);
        match record.and_then(|r| shard_bytes(&set, r)) {
            Some((done, _)) => whole.done += done,
            // Rolled up but unread: its whole range was gone through.
            None if finished => whole.done += set.range(index).map_or(0, |(s, e)| e.saturating_sub(s)),
            None => {}
        }
    }
    whole
}

fn counts(c: &Counters) -> String {
    let d = c.total_devices();
    format!("{} users · {} delivered · {} pruned · {} failed", c.entries, d.delivered, d.pruned, d.failed)
}

/// The whole-job bar's message.
pub fn whole_line(job_id: &str, w: &WholeJob) -> String {
    format!("{job_id} · {} shards, {} finished · {}", w.shards, w.finished, counts(&w.counters))
}

/// A shard bar's message.
pub fn shard_line(shard: &JobRecord) -> String {
    let index = shard.shard.as_ref().map_or(0, |s| s.index);
    format!("shard {index:03} {} · link {} · {}", shard.status.as_str(), shard.seq, counts(&shard.counters))
}

/// The bars of `pushbatch send` for a sharded job: the job's bar on top
/// (bytes of the file's user part), one per shard under it.
pub struct ShardBars {
    whole: ProgressBar,
    shards: Vec<ProgressBar>,
}

impl ShardBars {
    /// Takes over `whole` (already in `multi`) and adds a bar per shard.
    pub fn new(multi: &MultiProgress, whole: &ProgressBar, set: &ShardSet) -> Self {
        let shards = (0..set.count())
            .map(|i| {
                let size = set.range(i).map_or(0, |(s, e)| e.saturating_sub(s));
                let bar = crate::progress::shard_bytes(multi, size);
                bar.set_message(format!("shard {i:03} waiting to start"));
                bar
            })
            .collect();
        Self { whole: whole.clone(), shards }
    }

    pub fn update(&self, parent: &JobRecord, shards: &[JobRecord]) {
        let w = whole_job(parent, shards);
        self.whole.set_length(w.total);
        self.whole.set_position(w.done);
        self.whole.set_message(whole_line(&parent.job_id, &w));
        let Some(set) = &parent.shards else { return };
        for r in shards {
            let (Some((done, _)), Some(of)) = (shard_bytes(set, r), r.shard.as_ref()) else { continue };
            if let Some(bar) = self.shards.get(of.index as usize) {
                bar.set_position(done);
                bar.set_message(shard_line(r));
            }
        }
    }

    pub fn finish_and_clear(&self) {
        for bar in &self.shards {
            bar.finish_and_clear();
        }
    }
}

fn percent(done: u64, total: u64) -> f64 {
    if total == 0 { 100.0 } else { done as f64 * 100.0 / total as f64 }
}

/// `pushbatch status JOB` for a running sharded job.
pub fn status_text(parent: &JobRecord, shards: &[JobRecord]) -> String {
    let w = whole_job(parent, shards);
    let set = parent.shards.clone().unwrap_or_else(|| ShardSet::new(Vec::new()));
    let mut out = format!(
        "job {} running as {} shards ({} finished): {}/{} bytes ({:.1}%) · {} · {} invocations so far\n",
        parent.job_id,
        w.shards,
        w.finished,
        w.done,
        w.total,
        percent(w.done, w.total),
        counts(&w.counters),
        w.invocations
    );
    out.push_str(&format!("  file s3://{}/{}\n", parent.bucket, parent.key));
    let rows: Vec<Vec<String>> = shards
        .iter()
        .filter_map(|r| {
            let (done, size) = shard_bytes(&set, r)?;
            let c = &r.counters;
            let d = c.total_devices();
            Some(vec![
                format!("{:03}", r.shard.as_ref()?.index),
                r.status.as_str().to_owned(),
                format!("{done}/{size}"),
                r.seq.to_string(),
                c.entries.to_string(),
                d.delivered.to_string(),
                d.pruned.to_string(),
                d.failed.to_string(),
                r.invocations.to_string(),
            ])
        })
        .collect();
    let headers = ["shard", "status", "bytes", "link", "users", "delivered", "pruned", "failed", "invocations"];
    for line in table::render(&headers, &rows).lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `pushbatch status JOB --json` for a running sharded job.
pub fn status_json(parent: &JobRecord, shards: &[JobRecord]) -> serde_json::Value {
    json!({ "job": parent, "shards": shards })
}

#[cfg(test)]
mod tests {
    use shared::batch::Platform;
    use shared::jobs::JobStatus;
    use shared::jobs::{FinishedShard, ShardOf, shard_id};

    use super::*;

    fn record(job_id: &str) -> JobRecord {
        JobRecord { invocations: 1, ..JobRecord::new(job_id, "b", "batches/big.jsonl", "e", 0) }
    }

    fn counters(users: u64, delivered: u64, pruned: u64, failed: u64) -> Counters {
        let mut c = Counters { entries: users, ..Counters::default() };
        let d = c.platform(Platform::Ios);
        (d.delivered, d.pruned, d.failed) = (delivered, pruned, failed);
        c
    }

    fn shard(index: u32, offset: u64, end: u64, seq: u64, c: Counters) -> JobRecord {
        JobRecord {
            job_id: shard_id("job", index),
            offset,
            seq,
            counters: c,
            invocations: seq + 1,
            shard: Some(ShardOf { parent: "job".into(), index, end }),
            ..record("x")
        }
    }

    /// Three shards over bytes 100..400: 0 finished and rolled up, 1 half
    /// way, 2 not created yet.
    fn job() -> (JobRecord, Vec<JobRecord>) {
        let mut parent = record("job");
        let mut set = ShardSet::new(vec![100, 200, 300, 400]);
        set.finished.push(FinishedShard { index: 0, status: JobStatus::Done, reason: None });
        parent.shards = Some(set);
        parent.counters = counters(10, 8, 1, 1);
        parent.invocations = 1 + 3;
        let mut first = shard(0, 200, 200, 2, counters(10, 8, 1, 1));
        first.status = JobStatus::Done;
        let second = shard(1, 250, 300, 1, counters(4, 4, 0, 0));
        (parent, vec![first, second])
    }

    #[test]
    fn sums_finished_from_the_job_and_running_from_their_records() {
        let (parent, shards) = job();
        let w = whole_job(&parent, &shards);
        assert_eq!((w.done, w.total), (100 + 50, 300));
        assert_eq!(w.counters, {
            let mut c = counters(10, 8, 1, 1);
            c.add(&counters(4, 4, 0, 0));
            c
        });
        assert_eq!((w.invocations, w.shards, w.finished), (1 + 3 + 2, 3, 1));
    }

    #[test]
    fn a_shard_finishing_between_reads_is_counted_once() {
        let (mut parent, mut shards) = job();
        // The job was read before shard 1 rolled up; its record says done.
        shards[1].status = JobStatus::Done;
        shards[1].offset = 300;
        let w = whole_job(&parent, &shards);
        assert_eq!((w.done, w.counters.entries), (200, 14));
        // Read after: the job has it, and its record is not added again.
        parent.counters.add(&shards[1].counters);
        parent.shards.as_mut().unwrap().finished.push(FinishedShard {
            index: 1,
            status: JobStatus::Done,
            reason: None,
        });
        let w = whole_job(&parent, &shards);
        assert_eq!((w.done, w.counters.entries, w.finished), (200, 14, 2));
    }

    #[test]
    fn a_rolled_up_shard_whose_record_was_not_read_counts_its_range() {
        let (parent, shards) = job();
        let w = whole_job(&parent, &shards[1..]);
        assert_eq!((w.done, w.counters.entries), (150, 14));
    }

    #[test]
    fn shard_bytes_clamp_to_the_range() {
        let set = ShardSet::new(vec![100, 200, 300]);
        assert_eq!(shard_bytes(&set, &shard(1, 180, 300, 0, Counters::default())), Some((0, 100)));
        assert_eq!(shard_bytes(&set, &shard(1, 999, 300, 0, Counters::default())), Some((100, 100)));
        assert_eq!(shard_bytes(&set, &shard(5, 0, 0, 0, Counters::default())), None, "not in the set");
        assert_eq!(shard_bytes(&set, &record("job")), None, "not a shard");
    }

    #[test]
    fn lines_for_the_bars() {
        let (parent, shards) = job();
        assert_eq!(
            whole_line("job", &whole_job(&parent, &shards)),
            "job · 3 shards, 1 finished · 14 users · 12 delivered · 1 pruned · 1 failed"
        );
        assert_eq!(shard_line(&shards[1]), "shard 001 running · link 1 · 4 users · 4 delivered · 0 pruned · 0 failed");
    }

    #[test]
    fn status_text_has_the_job_and_a_row_per_shard() {
        let (parent, shards) = job();
        assert_eq!(
            status_text(&parent, &shards),
            "job job running as 3 shards (1 finished): 150/300 bytes (50.0%) · 14 users · 12 delivered · 1 pruned \
             · 1 failed · 6 invocations so far\n\
             \x20 file s3://b/batches/big.jsonl\n\
             \x20 shard  status   bytes    link  users  delivered  pruned  failed  invocations\n\
             \x20 -----  -------  -------  ----  -----  ---------  ------  ------  -----------\n\
             \x20 000    done     100/100  2     10     8          1       1       3\n\
             \x20 001    running  50/100   1     4      4          0       0       2\n"
        );
    }

    #[test]
    fn bars_follow_the_records() {
        let (parent, shards) = job();
        let multi = crate::progress::multi(false);
        let whole = multi.add(crate::progress::bytes(false, 999));
        let bars = ShardBars::new(&multi, &whole, parent.shards.as_ref().unwrap());
        bars.update(&parent, &shards);
        assert_eq!((whole.position(), whole.length()), (150, Some(300)));
        let at: Vec<(u64, Option<u64>)> = bars.shards.iter().map(|b| (b.position(), b.length())).collect();
        assert_eq!(at, vec![(100, Some(100)), (50, Some(100)), (0, Some(100))]);
        assert_eq!(bars.shards[2].message(), "shard 002 waiting to start");
        assert!(bars.shards[1].message().starts_with("shard 001 running · link 1"));
        assert!(multi.is_hidden());
    }

    #[test]
    fn status_json_holds_the_job_and_its_shards() {
        let (parent, shards) = job();
        let v = status_json(&parent, &shards);
        assert_eq!(v["job"]["job_id"], "job");
        assert_eq!(v["shards"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["shards"][1]["shard"]["index"], 1);
    }
}
