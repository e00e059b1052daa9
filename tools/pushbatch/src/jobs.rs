//! `pushbatch send FILE` and `pushbatch status JOB`: upload a batch file,
//! follow its job to the end, show a job.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use aws_sdk_s3::primitives::ByteStream;
use clap::Args;
use shared::clock::now_ms;
use shared::jobs::{ControlRead, DynamoJobs, JobRead, JobRecord, JobsByObject};
use shared::report::Summary;
use shared::schema::{BUCKET_ENV, DEFAULT_LOCAL_BUCKET, JOBS};
use shared::shards::shard_records;

use crate::aws_clients;
use crate::env_file::EnvMap;
use crate::shard_progress::{ShardBars, status_json, status_text};

/// How often `send` reads a sharded job's shard records.
const SHARD_POLL: Duration = Duration::from_secs(1);

#[derive(Debug, Args)]
pub struct SendArgs {
    /// A .json, .jsonl or .ndjson batch file
    pub file: PathBuf,
    /// Object name under batches/ [default: the file's name]
    #[arg(long)]
    pub name: Option<String>,
    /// Upload and return without following the job
    #[arg(long)]
    pub no_follow: bool,
    /// Give up following after this many seconds
    #[arg(long, default_value_t = 3600)]
    pub timeout: u64,
    /// Print the summary as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The job id (as printed by `send`, and the folder under reports/)
    pub job: String,
    #[arg(long)]
    pub json: bool,
}

/// The clients these commands need, from the layered environment.
pub struct Jobs {
    pub s3: aws_sdk_s3::Client,
    pub jobs: DynamoJobs,
    pub bucket: String,
    env: EnvMap,
}

impl Jobs {
    pub async fn from_env(env: &EnvMap) -> Self {
        let sdk = aws_clients::sdk_config(env).await;
        Self {
            s3: aws_clients::s3(&sdk, env),
            jobs: DynamoJobs::new(aws_clients::dynamodb(&sdk, env), env.get_or(JOBS.env, JOBS.default_name)),
            bucket: env.get_or(BUCKET_ENV, DEFAULT_LOCAL_BUCKET).to_string(),
            env: env.clone(),
        }
    }

    /// Uploads under `batches/`; returns the key and the ETag S3 gave it.
    pub async fn upload(&self, file: &Path, name: Option<&str>) -> anyhow::Result<(String, String)> {
        let name = match name {
            Some(n) => n.to_owned(),
            None => file
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| anyhow!("{} has no file name", file.display()))?
                .to_owned(),
        };
        let key = format!("batches/{name}");
        let body = ByteStream::from_path(file).await.with_context(|| format!("reading {}", file.display()))?;
        let out = self.s3.put_object().bucket(&self.bucket).key(&key).body(body).send().await.map_err(|e| {
            anyhow!("uploading to s3://{}/{key}: {}", self.bucket, aws_sdk_s3::error::DisplayErrorContext(e))
        })?;
        let etag = shared::objects::unquote(out.e_tag().unwrap_or_default());
        Ok((key, etag))
    }

    /// Follows the job of one uploaded file until it ends; returns its summary.
    pub async fn follow(
        &self,
        key: &str,
        etag: &str,
        total_bytes: u64,
        timeout: Duration,
        show: bool,
    ) -> anyhow::Result<Summary> {
        // One bar in a MultiProgress draws as the single bar always did;
        // a sharded job's shard bars join it when the shards appear.
        let multi = crate::progress::multi(show);
        let bar = multi.add(crate::progress::bytes(show, total_bytes));
        bar.set_message("waiting for send-batch to pick the file up");
        let mut sharded: Option<ShardBars> = None;
        let mut shards_read: Option<Instant> = None;
        let started = Instant::now();
        loop {
            if started.elapsed() > timeout {
                bail!("gave up after {timeout:?}; the job may still be running");
            }
            let mut found = self.jobs.find_by_object(&self.bucket, key, etag).await?;
            found.sort_by_key(|r| r.started_at_ms);
            match found.pop() {
                None if started.elapsed() > Duration::from_secs(60) => {
                    bail!(
                        "no job started for s3://{}/{key} within a minute: is the bucket notification (or the local event plane) running?",
                        self.bucket
                    )
                }
                None => bar.set_message(crate::waiting::before_record(&self.env).await),
                Some(r) => {
                    if r.status.is_terminal() {
                        bar.finish_and_clear();
                        if let Some(bars) = &sharded {
                            bars.finish_and_clear();
                        }
                        return self.summary(&r.job_id).await;
                    }
                    match &r.shards {
                        Some(set) => {
                            let bars = sharded.get_or_insert_with(|| {
                                multi.suspend(|| eprintln!("job {} runs as {} shards", r.job_id, set.count()));
                                ShardBars::new(&multi, &bar, set)
                            });
                            // K reads a poll: at most once a second.
                            if shards_read.is_none_or(|at| at.elapsed() >= SHARD_POLL) {
                                let shards = shard_records(&self.jobs, &r).await?;
                                bars.update(&r, &shards);
                                shards_read = Some(Instant::now());
                            }
                        }
                        None => {
                            let control = self.jobs.control(&r.job_id).await?;
                            let waiting = crate::waiting::for_record(&r, control.as_ref(), now_ms());
                            bar.set_position(r.offset);
                            bar.set_message(format!("{} · {waiting}", progress_line(&r)));
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    pub async fn summary(&self, job: &str) -> anyhow::Result<Summary> {
        let key = format!("reports/{job}/summary.json");
        let out = self.s3.get_object().bucket(&self.bucket).key(&key).send().await.map_err(|e| {
            anyhow!("reading s3://{}/{key}: {}", self.bucket, aws_sdk_s3::error::DisplayErrorContext(e))
        })?;
        let bytes = out.body.collect().await.context("reading the summary")?.into_bytes();
        serde_json::from_slice(&bytes).context("parsing the summary")
    }
}

fn progress_line(r: &JobRecord) -> String {
    let d = r.counters.total_devices();
    format!(
        "{} · link {} · {} users · {} delivered · {} pruned · {} failed",
        r.job_id, r.seq, r.counters.entries, d.delivered, d.pruned, d.failed
    )
}

/// A summary for people.
pub fn print_summary(s: &Summary) {
    let c = &s.counters;
    println!("job {} {}{}", s.job_id, s.status, s.reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default());
    println!("  file          s3://{}/{} ({})", s.bucket, s.key, s.etag);
    if let Some(campaign) = &s.campaign {
        let variant = s.variant.as_ref().map(|v| format!(", variant {v}")).unwrap_or_default();
        println!("  campaign      {campaign}{variant}");
    }
    println!(
        "  entries       {} = {} valid + {} invalid {:?}",
        c.entries, c.valid_users, c.invalid_entries, c.invalid_by_reason
    );
    println!(
        "  valid users   {} = {} targeted + {} opted out {:?} + {} without devices",
        c.valid_users, c.targeted_users, c.opted_out, c.opted_out_by_reason, c.no_devices
    );
    println!("  devices       attempted  delivered  pruned  failed  retries");
    for (platform, d) in &c.devices {
        println!(
            "    {:<11} {:>9}  {:>9}  {:>6}  {:>6}  {:>7}",
            platform.as_str(),
            d.attempted,
            d.delivered,
            d.pruned,
            d.failed,
            d.retries
        );
    }
    let chains = match s.shards {
        Some(k) => format!(" in {k} shards at once, {:.0} sends/s a shard", s.sends_per_second),
        None => format!(", {:.0} sends/s", s.sends_per_second),
    };
    println!(
        "  time          {:.1}s wall, {:.1}s sending, {} invocations{chains}",
        s.duration_ms as f64 / 1000.0,
        s.busy_ms as f64 / 1000.0,
        s.invocations,
    );
    if let Some(stop) = &s.stopped {
        let why = stop.reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default();
        let not_sent = stop.users_not_sent.map(|n| format!("; {n} users not sent")).unwrap_or_default();
        println!("  stopped       by {}{why} at {}, at byte {}{not_sent}", stop.by, stop.at, stop.offset);
    }
    if let Some(failed) = &s.failed_report {
        println!("  failures      s3://{}/{failed} (copy it into batches/ to re-drive)", s.bucket);
    }
    if let Some(skipped) = &s.skipped_report {
        println!("  skipped       s3://{}/{skipped} (`pushbatch why JOB USER` for one user)", s.bucket);
    }
    if let Some(receipts) = &s.receipts_report {
        println!("  receipts      s3://{}/{receipts} (each delivery's apns-id or FCM message name)", s.bucket);
    }
    if let Some(receipt) = &s.cost {
        print!("{}", cost_text(receipt));
    }
    match c.check_identities() {
        Ok(()) => println!("  accounting    every identity holds"),
        Err(broken) => println!("  accounting    BROKEN: {}", broken.join("; ")),
    }
}

/// The cost receipt: dollars by service, what they come from, and SNS
/// mobile push's price for the same deliveries.
fn cost_text(r: &shared::cost::Receipt) -> String {
    let (u, c) = (&r.usage, &r.cost);
    let vs =
        if c.total_usd > 0.0 { format!(" ({:.1}× less)", c.sns_mobile_push_usd / c.total_usd) } else { String::new() };
    format!(
        "  cost          ${:.6} at list prices of {}: Lambda ${:.6} ({:.1} GB-s, {} requests), S3 ${:.6} \
         ({} GET, {} PUT, {} LIST), DynamoDB ${:.6} ({:.1} RRU, {:.1} WRU)\n  \
         vs SNS        ${:.6} for {} deliveries{vs}\n",
        c.total_usd,
        r.prices_as_of,
        c.lambda_compute_usd + c.lambda_requests_usd,
        u.gb_seconds,
        u.invocations,
        c.s3_usd,
        u.s3_get,
        u.s3_put,
        u.s3_list,
        c.dynamodb_usd,
        u.dynamodb_read_units,
        u.dynamodb_write_units,
        c.sns_mobile_push_usd,
        r.deliveries,
    )
}

pub async fn send(env: &EnvMap, args: SendArgs) -> anyhow::Result<ExitCode> {
    // Refuse a broken file before it reaches the bucket.
    let v = crate::validate::validate(&args.file, 0).await?;
    if let Some(e) = v.notification_error {
        bail!("{}: {e}", args.file.display());
    }
    let jobs = Jobs::from_env(env).await;
    let size = std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0);
    let (key, etag) = jobs.upload(&args.file, args.name.as_deref()).await?;
    eprintln!("uploaded s3://{}/{key} ({} users, etag {etag})", jobs.bucket, v.counts.entries);
    if args.no_follow {
        return Ok(ExitCode::SUCCESS);
    }
    let summary = jobs.follow(&key, &etag, size, Duration::from_secs(args.timeout), !args.json).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(if summary.status == "done" { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// One line per deferred part: when it is due, and how it ended.
fn parts_text(parts: &shared::jobs::PartSet) -> String {
    let mut due = parts.due.clone();
    due.sort_unstable();
    due.dedup();
    let mut out = String::new();
    for at in due {
        let when = chrono::DateTime::from_timestamp_millis(at)
            .map_or_else(|| at.to_string(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string());
        let state = match parts.finished.iter().find(|f| f.at_ms == at) {
            Some(f) => format!("{:?}", f.status).to_lowercase(),
            None => "to send".into(),
        };
        out.push_str(&format!("  part      {when}  {state}\n"));
    }
    out
}

pub async fn status(env: &EnvMap, args: StatusArgs) -> anyhow::Result<ExitCode> {
    let jobs = Jobs::from_env(env).await;
    let Some(r) = jobs.jobs.get(&args.job).await? else {
        bail!("no job {} in the jobs table", args.job);
    };
    if r.status.is_terminal() {
        let summary = jobs.summary(&r.job_id).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            print_summary(&summary);
        }
    } else if r.shards.is_some() {
        let shards = shard_records(&jobs.jobs, &r).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&status_json(&r, &shards))?);
        } else {
            print!("{}", status_text(&r, &shards));
        }
    } else if args.json {
        let control = jobs.jobs.control(&r.job_id).await?;
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"job": r, "control": control}))?);
    } else {
        let control = jobs.jobs.control(&r.job_id).await?;
        let state = crate::controls::state_of(&r, control.as_ref());
        println!("job {} {state}: {}", r.job_id, progress_line(&r));
        let of = r.total_entries.map(|t| format!(" of {t} entries")).unwrap_or_default();
        println!(
            "  file      s3://{}/{} at byte {}{of}, {} invocations so far",
            r.bucket, r.key, r.offset, r.invocations
        );
        println!("  now       {}", crate::waiting::for_record(&r, control.as_ref(), now_ms()));
        if let Some(parts) = &r.parts {
            print!("{}", parts_text(parts));
        }
        let header_rate = r.layout.as_ref().and_then(|l| l.header.rate_per_second);
        if let Some(line) = crate::controls::control_line(control.as_ref(), header_rate) {
            println!("  control   {line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use shared::jobs::{FinishedPart, JobStatus, PartSet};

    #[test]
    fn the_cost_receipt_says_what_each_dollar_is_for() {
        let usage = shared::cost::Usage {
            gb_seconds: 90.0,
            invocations: 2,
            s3_get: 3,
            s3_put: 2,
            s3_list: 1,
            dynamodb_read_units: 500.0,
            dynamodb_write_units: 8.0,
        };
        let text = super::cost_text(&shared::cost::Receipt::of(&usage, 1000));
        assert!(text.contains("(90.0 GB-s, 2 requests)"), "{text}");
        assert!(text.contains("(3 GET, 2 PUT, 1 LIST)"), "{text}");
        assert!(text.contains("(500.0 RRU, 8.0 WRU)"), "{text}");
        assert!(text.contains("vs SNS        $0.000500 for 1000 deliveries"), "{text}");
    }

    #[test]
    fn parts_are_listed_in_order_with_how_they_ended() {
        let parts = PartSet {
            due: vec![7_200_000, 3_600_000],
            finished: vec![FinishedPart { at_ms: 3_600_000, status: JobStatus::Done, reason: None }],
            main_done: true,
        };
        assert_eq!(
            super::parts_text(&parts),
            "  part      1970-01-01 01:00 UTC  done\n  part      1970-01-01 02:00 UTC  to send\n"
        );
    }
}
