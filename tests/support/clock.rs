//! The users' calendar on the local stack: a clock file the functions read
//! (`PUSHBATCH_CLOCK_FILE`) and the event plane's Scheduler fires its
//! one-time schedules by (`--clock-file`), so a test moves time instead of
//! waiting for it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::{Stack, eventually};

/// A clock file in its own temporary directory.
pub struct ClockFile {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl ClockFile {
    pub fn at(at: DateTime<Utc>) -> anyhow::Result<ClockFile> {
        let dir = tempfile::Builder::new().prefix("pushbatch-clock-").tempdir()?;
        let path = dir.path().join("clock");
        let clock = ClockFile { dir, path };
        clock.set(at)?;
        Ok(clock)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the clock. Written aside and renamed: the functions read the
    /// file at every call, and a half-written one is an error to them.
    pub fn set(&self, at: DateTime<Utc>) -> anyhow::Result<()> {
        let aside = self.dir.path().join("clock.new");
        std::fs::write(&aside, at.to_rfc3339())?;
        std::fs::rename(&aside, &self.path)?;
        Ok(())
    }

    pub fn now(&self) -> anyhow::Result<DateTime<Utc>> {
        let text = std::fs::read_to_string(&self.path)?;
        Ok(DateTime::parse_from_rfc3339(text.trim())?.with_timezone(&Utc))
    }
}

/// An RFC 3339 instant, e.g. `2026-12-01T09:00:00Z`.
pub fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).map_or_else(|e| panic!("{text}: {e}"), |t| t.with_timezone(&Utc))
}

/// Waits until the plane's Scheduler has looked at its clock at `at` or
/// later, and what that look fired has run: a probe schedule at `at` (its
/// input a control for a job that does not exist, which send-batch refuses
/// and which changes nothing) has fired and the plane is idle. Every
/// schedule due by the clock fires in the same pass as the probe, so a
/// schedule still there afterwards was not due: this is how a test shows
/// that nothing fired early without sleeping.
pub async fn scheduler_has_seen(stack: &Stack, at: DateTime<Utc>) -> anyhow::Result<()> {
    static PROBES: AtomicU64 = AtomicU64::new(0);
    let name = format!("probe-{}-{}", std::process::id(), PROBES.fetch_add(1, Ordering::Relaxed));
    let input = json!({"control": {"job_id": format!("{name}-no-such-job"), "action": "stop", "by": "probe"}});
    let body = json!({
        "ScheduleExpression": format!("at({})", at.format("%Y-%m-%dT%H:%M:%S")),
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "ActionAfterCompletion": "DELETE",
        "Target": {"Arn": "arn:aws:lambda:us-east-1:000000000000:function:send-batch",
                   "RoleArn": "arn:aws:iam::000000000000:role/probe", "Input": input.to_string()},
    });
    let url = format!("{}/schedules/{name}", stack.var("EVENT_PLANE_URL")?);
    let created = stack.http().post(&url).json(&body).send().await.with_context(|| format!("POST {url}"))?;
    anyhow::ensure!(created.status().is_success(), "creating {name}: {}", created.text().await?);
    // Deleted once fired (ActionAfterCompletion: DELETE).
    eventually(&format!("the probe schedule at {at} to fire"), Duration::from_secs(30), || async {
        Ok((!schedule_exists(stack, &name).await?).then_some(()))
    })
    .await?;
    plane_idle(stack).await
}

/// Whether the plane holds a schedule of this name (in the default group).
pub async fn schedule_exists(stack: &Stack, name: &str) -> anyhow::Result<bool> {
    let url = format!("{}/schedules/{name}", stack.var("EVENT_PLANE_URL")?);
    let status = stack.http().get(&url).send().await.with_context(|| format!("GET {url}"))?.status();
    match status.as_u16() {
        200 => Ok(true),
        404 => Ok(false),
        other => anyhow::bail!("GET {url}: {other}"),
    }
}

/// Waits until the plane has nothing queued or in flight.
pub async fn plane_idle(stack: &Stack) -> anyhow::Result<()> {
    eventually("the event plane to be idle", Duration::from_secs(300), || async {
        let stats = stack.plane_stats().await?;
        Ok((stats["queued"].as_u64() == Some(0) && stats["in_flight"].as_u64() == Some(0)).then_some(()))
    })
    .await
}
