//! A local stack with a seeded population, and the few things every
//! reliability scenario does with it: upload, follow a job, count.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use pushbatch::seed::write_users;
use serde_json::Value;
use shared::jobs::{DynamoJobs, JobRead, JobRecord, JobsByObject};
use shared::report::Summary;

use super::population::{Population, failed_tokens};
use crate::{Part, Stack, StackOptions, eventually};

/// Upper bound for one job of a scenario (they are a few thousand users).
pub const JOB_WAIT: Duration = Duration::from_secs(300);

pub struct Bench {
    pub stack: Stack,
    pub jobs: DynamoJobs,
    pub population: Population,
    s3: aws_sdk_s3::Client,
    dynamodb: aws_sdk_dynamodb::Client,
}

impl Bench {
    /// Starts a stack and seeds `population` into its devices table.
    pub async fn start(opts: StackOptions, population: Population) -> anyhow::Result<Bench> {
        let stack = Stack::start(opts).await?;
        let dynamodb = stack.dynamodb().await;
        let s3 = stack.s3().await;
        let jobs = DynamoJobs::new(dynamodb.clone(), stack.var("JOBS_TABLE")?);
        let seeded =
            write_users(&dynamodb, stack.var("DEVICES_TABLE")?, &population.opts, 8, &indicatif::ProgressBar::hidden())
                .await?;
        anyhow::ensure!(seeded.users == population.opts.users, "seeded {} users", seeded.users);
        Ok(Bench { stack, jobs, population, s3, dynamodb })
    }

    /// Starts a stack with nothing seeded (for files whose users carry
    /// their devices inline).
    pub async fn bare(opts: StackOptions) -> anyhow::Result<Bench> {
        let stack = Stack::start(opts).await?;
        let dynamodb = stack.dynamodb().await;
        let s3 = stack.s3().await;
        let jobs = DynamoJobs::new(dynamodb.clone(), stack.var("JOBS_TABLE")?);
        Ok(Bench { stack, jobs, population: Population::new(0, 0), s3, dynamodb })
    }

    pub fn bucket(&self) -> &str {
        self.stack.bucket()
    }

    /// Uploads through the event plane's S3 proxy (so the upload raises an
    /// event); returns the unquoted ETag.
    pub async fn put(&self, key: &str, body: Vec<u8>) -> anyhow::Result<String> {
        let out = self.s3.put_object().bucket(self.bucket()).key(key).body(ByteStream::from(body)).send().await?;
        Ok(shared::objects::unquote(out.e_tag().unwrap_or_default()))
    }

    /// CopyObject within the bucket (an `ObjectCreated:Copy` event).
    pub async fn copy(&self, from: &str, to: &str) -> anyhow::Result<String> {
        let out = self
            .s3
            .copy_object()
            .bucket(self.bucket())
            .copy_source(format!("{}/{from}", self.bucket()))
            .key(to)
            .send()
            .await?;
        let etag = out.copy_object_result().and_then(|r| r.e_tag()).unwrap_or_default();
        Ok(shared::objects::unquote(etag))
    }

    pub async fn read(&self, key: &str) -> anyhow::Result<Vec<u8>> {
        let out = self.s3.get_object().bucket(self.bucket()).key(key).send().await?;
        Ok(out.body.collect().await?.into_bytes().to_vec())
    }

    /// The job started for this upload, once its record exists.
    pub async fn job_of(&self, key: &str, etag: &str) -> anyhow::Result<JobRecord> {
        eventually(&format!("a job for {key}"), Duration::from_secs(180), || async {
            Ok(self.jobs.find_by_object(self.bucket(), key, etag).await?.pop())
        })
        .await
    }

    pub async fn record(&self, job_id: &str) -> anyhow::Result<Option<JobRecord>> {
        Ok(self.jobs.get(job_id).await?)
    }

    /// Waits for the job to end; its record and summary.
    pub async fn finished(&self, job_id: &str) -> anyhow::Result<(JobRecord, Summary)> {
        self.finished_within(job_id, JOB_WAIT).await
    }

    pub async fn finished_within(&self, job_id: &str, wait: Duration) -> anyhow::Result<(JobRecord, Summary)> {
        let record = eventually(&format!("job {job_id} to end"), wait, || async {
            Ok(self.jobs.get(job_id).await?.filter(|r| r.status.is_terminal()))
        })
        .await?;
        let summary = self.read(&format!("reports/{job_id}/summary.json")).await?;
        Ok((record, serde_json::from_slice(&summary)?))
    }

    /// The tokens in the job's failed.jsonl (empty when it has none).
    pub async fn failed(&self, summary: &Summary) -> anyhow::Result<BTreeSet<String>> {
        match &summary.failed_report {
            Some(key) => failed_tokens(&String::from_utf8(self.read(key).await?)?),
            None => Ok(BTreeSet::new()),
        }
    }

    /// push-sandbox's per-token 200 counts (needs `--track-tokens`).
    pub async fn deliveries(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        let stats = self.stack.sandbox_stats().await?;
        Ok(serde_json::from_value(stats["deliveries"].clone()).unwrap_or_default())
    }

    /// Every token still in the devices table.
    pub async fn table_tokens(&self) -> anyhow::Result<BTreeSet<String>> {
        let mut tokens = BTreeSet::new();
        let mut pages = self.dynamodb.scan().table_name(self.stack.var("DEVICES_TABLE")?).into_paginator().send();
        while let Some(page) = pages.next().await {
            for item in page?.items() {
                let Some(list) = item.get("devices").and_then(|d| d.as_l().ok()) else { continue };
                for device in list {
                    if let Some(t) = device.as_m().ok().and_then(|m| m.get("token")).and_then(|t| t.as_s().ok()) {
                        tokens.insert(t.clone());
                    }
                }
            }
        }
        Ok(tokens)
    }

    fn plane_url(&self, path: &str) -> anyhow::Result<String> {
        Ok(format!("{}{path}", self.stack.var("EVENT_PLANE_URL")?))
    }

    async fn plane_post(&self, path: &str) -> anyhow::Result<Value> {
        let url = self.plane_url(path)?;
        let response = self.stack.http().post(&url).send().await?.error_for_status()?;
        Ok(response.json().await?)
    }

    /// Holds the plane's queue (deliveries already running finish).
    pub async fn pause_plane(&self) -> anyhow::Result<()> {
        self.plane_post("/_plane/pause").await.map(drop)
    }

    pub async fn resume_plane(&self) -> anyhow::Result<()> {
        self.plane_post("/_plane/resume").await.map(drop)
    }

    /// Queues the object's last S3 event again, byte-identical; how many.
    pub async fn redeliver_s3(&self, key: &str) -> anyhow::Result<u64> {
        let url = self.plane_url(&format!(
            "/_plane/redeliver-s3?bucket={}&key={}",
            query_encode(self.bucket()),
            query_encode(key)
        ))?;
        let response = self.stack.http().post(&url).send().await?.error_for_status()?;
        let answer: Value = response.json().await?;
        answer["redelivered"].as_u64().ok_or_else(|| anyhow::anyhow!("redeliver answered {answer}"))
    }

    /// `Invoke(Event)` of send-batch through the plane: queued, retried like
    /// Lambda's async invocations.
    pub async fn invoke_event(&self, payload: &Value) -> anyhow::Result<()> {
        let url = self.plane_url("/2015-03-31/functions/send-batch/invocations")?;
        self.stack
            .http()
            .post(&url)
            .header("x-amz-invocation-type", "Event")
            .body(payload.to_string())
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// Waits until the plane has nothing queued or in flight.
    pub async fn plane_idle(&self, timeout: Duration) -> anyhow::Result<Value> {
        eventually("the event plane to be idle", timeout, || async {
            let stats = self.stack.plane_stats().await?;
            let idle = stats["queued"].as_u64() == Some(0) && stats["in_flight"].as_u64() == Some(0);
            Ok(idle.then_some(stats))
        })
        .await
    }

    /// Lines of a part's whole log that contain `needle`.
    pub fn log_count(&self, part: Part, needle: &str) -> anyhow::Result<usize> {
        let path = pushbatch::local::StateDir::new(self.stack.state_dir()).log_file(part);
        let text = std::fs::read(&path)?;
        Ok(String::from_utf8_lossy(&text).lines().filter(|l| l.contains(needle)).count())
    }

    /// The tails of the logs that explain a failure.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (part, lines) in [(Part::Watch, 80), (Part::EventPlane, 30), (Part::Sandbox, 10)] {
            out.push_str(&format!("\n---- {part} (last {lines} lines) ----\n{}", self.stack.log_tail(part, lines)));
        }
        out
    }

    /// Runs `body`; on failure, the error carries the stack's log tails.
    pub async fn explain<T>(&self, body: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
        match body.await {
            Ok(value) => Ok(value),
            Err(e) => Err(e.context(format!("stack logs:{}", self.logs()))),
        }
    }
}

/// Percent-encodes everything but unreserved characters, for a query value.
fn query_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
