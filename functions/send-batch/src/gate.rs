//! Between batches: what the job's control asks (stop, pause, a rate), and
//! the canary's verdict. Every link and every shard passes here before it
//! reads each batch; the batches already in the pipeline still finish, so
//! a control takes effect within one window (`PIPELINE_BATCHES` batches).

use std::time::Duration;

use shared::batch::{Canary, CanaryThen};
use shared::chain::TimeBudget;
use shared::clock::now_ms;
use shared::counters::Counters;
use shared::jobs::{Control, ControlRead, ControlState, ControlWrite, JobRecord};
use shared::quota::{Bucket, QuotaBuckets, QuotaTake};

use crate::deps::Ports;
use crate::link::LinkError;

/// What the control says before a batch.
pub enum Verdict {
    Go,
    Stop(Control),
    Pause(Control),
}

/// What the canary found once its users were sent.
#[derive(Debug, Clone, PartialEq)]
pub enum CanaryVerdict {
    Passed { then: CanaryThen, summary: String },
    Failed { reason: String },
}

pub struct Gate {
    /// The job whose control and rate apply (a shard's parent).
    job_id: String,
    header_rate: Option<f64>,
    batch_size: usize,
    /// The rate the bucket was made for, and the bucket.
    throttle: Option<(f64, Box<dyn QuotaTake>)>,
    canary: Option<CanaryWatch>,
}

/// The canary's users and its rule, kept by the pipeline beside the gate.
#[derive(Debug, Clone)]
pub struct CanaryWatch {
    users: u64,
    canary: Canary,
}

impl Gate {
    pub fn new(record: &JobRecord, batch_size: usize) -> Self {
        let header = record.layout.as_ref().map(|l| &l.header);
        // Only the job's own chain sends the canary: shards start after it.
        let canary = match (header.and_then(|h| h.canary.clone()), &record.shard) {
            (Some(c), None) => Some(CanaryWatch { users: c.users_of(record.total_entries.unwrap_or(0)), canary: c }),
            _ => None,
        };
        Gate {
            job_id: record.report_job_id().to_owned(),
            header_rate: header.and_then(|h| h.rate_per_second),
            batch_size,
            throttle: None,
            canary,
        }
    }

    /// Reads the control; on `Go`, also brings the rate up to date.
    pub async fn check<P: Ports>(&mut self, ports: &P) -> Result<Verdict, LinkError> {
        let control = ports.jobs().control(&self.job_id).await?;
        let rate = control.as_ref().and_then(|c| c.rate_per_second).or(self.header_rate);
        match control {
            Some(c) if c.state == ControlState::Stopped => return Ok(Verdict::Stop(c)),
            Some(c) if c.state == ControlState::Paused => return Ok(Verdict::Pause(c)),
            _ => {}
        }
        self.throttle = match (rate, self.throttle.take()) {
            (None, _) => None,
            (Some(r), Some((current, bucket))) if current == r => Some((current, bucket)),
            (Some(r), _) => {
                // A second's worth of burst, in blocks no larger than a batch.
                let block = (self.batch_size as u64).min((r.ceil() as u64).max(1));
                let bucket = Bucket::new((r * 60.0).ceil() as u64, block);
                Some((r, ports.rates().bucket(&format!("rate#{}", self.job_id), bucket)))
            }
        };
        Ok(Verdict::Go)
    }

    pub fn canary_watch(&self) -> Option<CanaryWatch> {
        self.canary.clone()
    }

    /// Waits until the job's rate lets `users` more go. False when the time
    /// left would run out first: the link hands on instead.
    pub async fn admit(&self, users: u64, budget: &TimeBudget) -> Result<bool, LinkError> {
        let Some((_, bucket)) = &self.throttle else { return Ok(true) };
        let mut missing = users;
        while missing > 0 {
            let grant = bucket.take(missing.min(self.batch_size as u64)).await.map_err(LinkError::Rate)?;
            missing = missing.saturating_sub(grant.granted);
            if grant.granted == 0 {
                let wait = grant.wait.max(Duration::from_millis(5));
                if wait + budget.margin() >= budget.remaining() {
                    return Ok(false);
                }
                tokio::time::sleep(wait).await;
            }
        }
        Ok(true)
    }
}

impl CanaryWatch {
    /// How many entries the next batch may read, `read` entries in: a
    /// canary ends at its boundary, not inside a batch.
    pub fn batch_limit(&self, read: u64, batch_size: usize) -> usize {
        if read < self.users { ((self.users - read) as usize).min(batch_size).max(1) } else { batch_size }
    }

    /// True while the canary's users are read but not all finished: nothing
    /// past them may be read until it is judged.
    pub fn holds(&self, read: u64, finished: u64) -> bool {
        read >= self.users && finished < self.users
    }

    /// After a batch moved the counters from `before` to `after`: the
    /// canary's verdict when this batch completed it.
    pub fn verdict(&self, before: u64, after: &Counters) -> Option<CanaryVerdict> {
        if before >= self.users || after.entries < self.users {
            return None;
        }
        Some(judge(&self.canary, after))
    }
}

/// Failure and prune rates over the devices attempted so far.
fn judge(canary: &Canary, counters: &Counters) -> CanaryVerdict {
    let d = counters.total_devices();
    let rate = |n: u64| if d.attempted == 0 { 0.0 } else { n as f64 / d.attempted as f64 };
    let (failed, pruned) = (rate(d.failed), rate(d.pruned));
    let limit = canary.max_failure_rate;
    let pct = |r: f64| format!("{:.1}%", r * 100.0);
    let after = format!("after {} canary users ({} devices)", counters.entries, d.attempted);
    if failed > limit {
        return CanaryVerdict::Failed {
            reason: format!("canary: failure rate {} {after}, above the {} allowed", pct(failed), pct(limit)),
        };
    }
    if pruned > limit {
        return CanaryVerdict::Failed {
            reason: format!("canary: prune rate {} {after}, above the {} allowed", pct(pruned), pct(limit)),
        };
    }
    CanaryVerdict::Passed {
        then: canary.then,
        summary: format!("canary passed: failure rate {}, prune rate {} {after}", pct(failed), pct(pruned)),
    }
}

/// Sets the job's control as the canary decided, unless an operator wrote
/// one in between (theirs stands). Returns the control now in force.
pub async fn set_by_canary<P: Ports>(
    ports: &P,
    job_id: &str,
    state: ControlState,
    reason: &str,
) -> Result<Control, LinkError> {
    let current = ports.jobs().control(job_id).await?.unwrap_or_else(|| Control::initial(job_id));
    if current.state != ControlState::Running {
        return Ok(current);
    }
    let next = Control {
        state,
        by: "canary".into(),
        reason: Some(reason.into()),
        at_ms: now_ms(),
        version: current.version + 1,
        ..current.clone()
    };
    if ports.jobs().put_control(&next, current.version).await? {
        return Ok(next);
    }
    Ok(ports.jobs().control(job_id).await?.unwrap_or(next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::batch::Platform;

    fn counters(entries: u64, attempted: u64, failed: u64, pruned: u64) -> Counters {
        let mut c = Counters { entries, ..Counters::default() };
        let d = c.platform(Platform::Ios);
        d.attempted = attempted;
        d.failed = failed;
        d.pruned = pruned;
        d.delivered = attempted - failed - pruned;
        c
    }

    fn canary(rate: f64, then: CanaryThen) -> Canary {
        Canary { users: Some(100), percent: None, max_failure_rate: rate, then }
    }

    #[test]
    fn the_canary_names_the_rate_that_failed_it() {
        let c = canary(0.1, CanaryThen::Continue);
        assert!(matches!(judge(&c, &counters(100, 200, 60, 0)),
            CanaryVerdict::Failed { reason } if reason.contains("failure rate 30.0%") && reason.contains("10.0%")));
        assert!(matches!(judge(&c, &counters(100, 200, 0, 30)),
            CanaryVerdict::Failed { reason } if reason.contains("prune rate 15.0%")));
        assert!(matches!(judge(&c, &counters(100, 200, 20, 20)), CanaryVerdict::Passed { .. }), "10% is allowed");
        assert!(matches!(judge(&c, &counters(100, 0, 0, 0)), CanaryVerdict::Passed { .. }), "nobody to judge");
    }

    #[test]
    fn the_canary_ends_on_its_boundary_and_judges_once() {
        let mut record = JobRecord::new("j", "b", "k", "e", 0);
        let mut header: shared::batch::Header =
            serde_json::from_str(r#"{"campaign":"c","notification":{"body":"b"}}"#).unwrap();
        header.canary = Some(canary(0.5, CanaryThen::Pause));
        record.layout = Some(shared::batch::Layout {
            header,
            encoding: shared::batch::Encoding::Jsonl,
            users_start: 0,
            first_line: 2,
            has_users: true,
        });
        let watch = Gate::new(&record, 40).canary_watch().unwrap();
        assert_eq!(watch.batch_limit(0, 40), 40);
        assert_eq!(watch.batch_limit(80, 40), 20, "the last canary batch stops at 100");
        assert_eq!(watch.batch_limit(100, 40), 40);
        assert!(watch.holds(100, 80), "nothing past the canary is read before it is judged");
        assert!(!watch.holds(80, 40) && !watch.holds(140, 100));
        assert_eq!(watch.verdict(80, &counters(99, 10, 0, 0)), None);
        assert!(matches!(
            watch.verdict(80, &counters(100, 10, 0, 0)),
            Some(CanaryVerdict::Passed { then: CanaryThen::Pause, .. })
        ));
        assert_eq!(watch.verdict(100, &counters(140, 10, 0, 0)), None, "judged once");
    }
}
