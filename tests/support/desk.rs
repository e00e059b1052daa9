//! An operator's desk on the local stack: the CLI's control calls
//! (`pushbatch::controls::request`, as `pushbatch stop|pause|resume|throttle`
//! sends them), uploads, and a job's state across its shards.

use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use pushbatch::controls::{ControlArgs, ControlCommand, ThrottleArgs, Who};
use pushbatch::env_file::EnvMap;
use serde_json::{Value, json};
use shared::jobs::{JobRecord, JobStatus};
use shared::shards::shard_records;

use crate::clock::plane_idle;
use crate::reliability::Bench;

/// Who the controls say acted.
pub const BY: &str = "ops@example.com";
/// The reason every stop and pause gives.
pub const REASON: &str = "wrong link";

pub struct Desk {
    pub bench: Bench,
    env: EnvMap,
}

impl Desk {
    pub fn new(bench: Bench) -> Desk {
        let env = bench.stack.env().iter().collect();
        Desk { bench, env }
    }

    fn who(&self) -> Who {
        Who { by: Some(BY.into()), function: "send-batch".into() }
    }

    /// `pushbatch stop|pause|resume JOB --reason "wrong link" --by ops@…`:
    /// send-batch's answer.
    pub async fn control(&self, action: &str, job: &str) -> anyhow::Result<Value> {
        let args = ControlArgs { job: job.into(), reason: Some(REASON.into()), who: self.who() };
        let command = match action {
            "stop" => ControlCommand::Stop(args),
            "pause" => ControlCommand::Pause(args),
            "resume" => ControlCommand::Resume(args),
            other => anyhow::bail!("no control {other}"),
        };
        pushbatch::controls::request(&self.env, &command).await
    }

    /// `pushbatch throttle JOB RATE`.
    pub async fn throttle(&self, job: &str, rate: &str) -> anyhow::Result<Value> {
        let command = ControlCommand::Throttle(ThrottleArgs { job: job.into(), rate: rate.into(), who: self.who() });
        pushbatch::controls::request(&self.env, &command).await
    }

    /// A synchronous Invoke of send-batch with any payload, as a caller
    /// other than the CLI could send it.
    pub async fn invoke(&self, payload: &Value) -> anyhow::Result<Value> {
        let out = self
            .bench
            .stack
            .lambda()
            .await?
            .invoke()
            .function_name("send-batch")
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await?;
        let body = out.payload().map(|b| b.as_ref().to_vec()).unwrap_or_default();
        anyhow::ensure!(out.function_error().is_none(), "send-batch failed: {}", String::from_utf8_lossy(&body));
        Ok(serde_json::from_slice(&body)?)
    }

    /// Uploads a batch file; the job it started, once its record exists.
    pub async fn upload(&self, key: &str, body: Vec<u8>) -> anyhow::Result<JobRecord> {
        let etag = self.bench.put(key, body).await?;
        self.bench.job_of(key, &etag).await
    }

    /// Between scenarios: nothing running, no latency or faults, the
    /// sandbox's counts at zero.
    pub async fn fresh(&self) -> anyhow::Result<()> {
        plane_idle(&self.bench.stack).await?;
        self.bench.stack.sandbox_config(&json!({"latency_ms": 0, "rate_500": 0.0})).await?;
        self.bench.stack.sandbox_reset_stats().await
    }

    /// The job's record, with its running shards' counters added.
    pub async fn live(&self, job: &str) -> anyhow::Result<JobRecord> {
        let parent = self.bench.record(job).await?.with_context(|| format!("no record of job {job}"))?;
        let shards = shard_records(&self.bench.jobs, &parent).await?;
        Ok(shared::shards::live(&parent, &shards))
    }

    /// Waits until no chain of the job runs or is about to: nobody holds
    /// the job or any of its shards, and the plane has nothing queued or in
    /// flight (a chain handing on has its next link queued). The job's
    /// record then.
    pub async fn at_rest(&self, job: &str) -> anyhow::Result<JobRecord> {
        crate::eventually(&format!("every chain of {job} to let go"), Duration::from_secs(120), || async {
            plane_idle(&self.bench.stack).await?;
            let parent = self.bench.record(job).await?.with_context(|| format!("no record of job {job}"))?;
            let shards = shard_records(&self.bench.jobs, &parent).await?;
            let held = |r: &JobRecord| r.owner.is_some() && r.status == JobStatus::Running;
            let idle = !held(&parent) && !shards.iter().any(held);
            Ok(idle.then(|| shared::shards::live(&parent, &shards)))
        })
        .await
    }
}

/// A refusal's reason, or an error showing the answer.
pub fn refusal(answer: &Value) -> anyhow::Result<&str> {
    answer["refused"]["reason"].as_str().with_context(|| format!("not refused: {answer}"))
}

/// The control state an answer says is in force.
pub fn state(answer: &Value) -> anyhow::Result<&str> {
    answer["control"]["state"].as_str().with_context(|| format!("no control in the answer: {answer}"))
}
