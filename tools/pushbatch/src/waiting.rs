//! What a job is waiting for, in words: `send` and `status` say it instead
//! of a bare "waiting". Before its record exists a job waits for its upload's
//! event; locally that can also be `cargo lambda watch` still compiling the
//! function (minutes from cold), or an invocation queued in the event plane.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use shared::jobs::{Control, ControlState, JobRecord, JobStatus, PartSet};

use crate::env_file::EnvMap;

/// stack.env's pointer to the stack's state directory (logs live there).
pub const STATE_DIR_ENV: &str = "STACK_STATE_DIR";

/// For a job whose record exists and is not finished.
pub fn for_record(record: &JobRecord, control: Option<&Control>, now_ms: i64) -> String {
    match control.map(|c| c.state) {
        Some(ControlState::Stopped) => return format!("stopping: asked by {}", by(control)),
        Some(ControlState::Paused) => {
            return format!("paused by {}: `pushbatch resume {}`", by(control), record.job_id);
        }
        _ => {}
    }
    if record.status == JobStatus::Scheduled {
        let at = record.send_at_ms.unwrap_or(now_ms);
        return format!("scheduled: starts in {}", human((at - now_ms).max(0)));
    }
    if let Some(parts) = record.parts.as_ref().filter(|p| p.main_done) {
        return parts_line(parts, now_ms);
    }
    let rate =
        control.and_then(|c| c.rate_per_second).or(record.layout.as_ref().and_then(|l| l.header.rate_per_second));
    let throttled = rate.map(|r| format!(", throttled to {r} users/s")).unwrap_or_default();
    match &record.owner {
        None if record.shards.is_some() => format!("running as shards{throttled}"),
        None => format!("between links: link {} is queued{throttled}", record.seq),
        Some(_) if record.lease_until_ms < now_ms => {
            format!("link {} stopped checkpointing: it is retried once its lease ran out", record.seq)
        }
        Some(_) => format!("sending: link {}{throttled}", record.seq),
    }
}

/// A job whose own pass is over and whose deferred users wait for their
/// instants (local time, the end of quiet hours).
pub fn parts_line(parts: &PartSet, now_ms: i64) -> String {
    let pending = parts.pending();
    let Some(next) = pending.first() else {
        return "its last part is finishing".into();
    };
    let at = chrono::DateTime::from_timestamp_millis(*next).map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string());
    format!(
        "waiting for its parts: {} of {} to send, the next at {} (in {})",
        pending.len(),
        parts.due.len(),
        at.unwrap_or_else(|| next.to_string()),
        human((next - now_ms).max(0))
    )
}

fn by(control: Option<&Control>) -> &str {
    control.map_or("?", |c| c.by.as_str())
}

fn human(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// Before the job's record exists.
pub async fn before_record(env: &EnvMap) -> String {
    let compiling = env.get(STATE_DIR_ENV).and_then(|dir| compiling(&Path::new(dir).join("watch.log")));
    if let Some(what) = compiling {
        return format!("cargo lambda watch is compiling {what}: from cold this takes minutes");
    }
    if let Some(url) = env.get("EVENT_PLANE_URL")
        && let Some((queued, in_flight)) = plane_queue(url).await
        && queued + in_flight > 0
    {
        return format!("the upload's event is in the event plane: {queued} queued, {in_flight} running");
    }
    "waiting for send-batch to pick the file up (the bucket's notification)".into()
}

/// The crate being compiled, when the last build line of the log is one.
fn compiling(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let tail: Vec<&str> = text.lines().rev().take(40).collect();
    let last_build =
        tail.iter().find(|l| l.contains("Compiling ") || l.contains("Finished ") || l.contains("Running "))?;
    let at = last_build.find("Compiling ")?;
    Some(last_build[at + "Compiling ".len()..].split_whitespace().next()?.to_owned())
}

async fn plane_queue(url: &str) -> Option<(u64, u64)> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().ok()?;
    let stats: Value = client.get(format!("{url}/_plane/stats")).send().await.ok()?.json().await.ok()?;
    Some((stats["queued"].as_u64()?, stats["in_flight"].as_u64()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_what_a_job_waits_for() {
        let mut r = JobRecord::new("j", "b", "k", "e", 0);
        r.seq = 3;
        assert_eq!(for_record(&r, None, 0), "between links: link 3 is queued");
        r.owner = Some("x".into());
        r.lease_until_ms = 10;
        assert_eq!(for_record(&r, None, 5), "sending: link 3");
        assert!(for_record(&r, None, 50).contains("stopped checkpointing"));
        r.status = JobStatus::Scheduled;
        r.send_at_ms = Some(125_000);
        r.owner = None;
        assert_eq!(for_record(&r, None, 0), "scheduled: starts in 2 min 5 s");
        let mut c = Control::initial("j");
        c.state = ControlState::Paused;
        c.by = "ann".into();
        assert_eq!(for_record(&r, Some(&c), 0), "paused by ann: `pushbatch resume j`");
        r.status = JobStatus::Running;
        r.parts = Some(PartSet { due: vec![3_600_000, 7_200_000], finished: Vec::new(), main_done: true });
        assert_eq!(
            for_record(&r, None, 0),
            "waiting for its parts: 2 of 2 to send, the next at 1970-01-01 01:00 UTC (in 1 h 0 min)"
        );
    }

    #[test]
    fn reads_a_compiling_watch_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("watch.log");
        std::fs::write(&log, "INFO starting\n   Compiling aws-sdk-s3 v1.157.0\n   Compiling shared v0.1.0 (/w)\n")
            .unwrap();
        assert_eq!(compiling(&log).as_deref(), Some("shared"));
        std::fs::write(&log, "   Compiling shared v0.1.0\n    Finished `dev` profile\n").unwrap();
        assert_eq!(compiling(&log), None, "built");
    }
}
