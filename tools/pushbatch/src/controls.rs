//! `pushbatch stop|pause|resume|throttle JOB` and `pushbatch jobs`: the
//! operator's controls over running jobs. A control is one synchronous
//! Invoke of send-batch (`{"control": ...}`), which sets the job's control
//! record and wakes its idle links; the same call works against AWS and the
//! local stack (the event plane passes RequestResponse through).

use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use shared::jobs::{Control, ControlRead, ControlState, DynamoJobs, JobRecord, LiveJobs};
use shared::schema::JOBS;

use crate::aws_clients;
use crate::env_file::EnvMap;

/// The function controls are sent to.
pub const FUNCTION_ENV: &str = "SEND_BATCH_FUNCTION";

#[derive(Debug, Subcommand)]
pub enum ControlCommand {
    /// Stop a job now: every link and shard stops within one batch; nothing restarts it
    Stop(ControlArgs),
    /// Pause a job: its links end at their checkpoints until `resume`
    Pause(ControlArgs),
    /// Resume a paused job from its checkpoints
    Resume(ControlArgs),
    /// Cap a running job's users per second across its shards (`off` lifts it)
    Throttle(ThrottleArgs),
}

#[derive(Debug, Args)]
pub struct ControlArgs {
    /// The job id (as `send` and `jobs` print it)
    pub job: String,
    /// Why, for the summary and the logs
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    pub who: Who,
}

#[derive(Debug, Args)]
pub struct ThrottleArgs {
    pub job: String,
    /// Users per second, or `off`
    pub rate: String,
    #[command(flatten)]
    pub who: Who,
}

#[derive(Debug, Args)]
pub struct Who {
    /// Who asks, as the summary records it [default: $PUSHBATCH_OPERATOR, else $USER]
    #[arg(long)]
    pub by: Option<String>,
    /// send-batch's function name or ARN
    #[arg(long, env = FUNCTION_ENV, default_value = "send-batch")]
    pub function: String,
}

impl Who {
    fn name(&self) -> anyhow::Result<String> {
        self.by
            .clone()
            .or_else(|| std::env::var("PUSHBATCH_OPERATOR").ok())
            .or_else(|| std::env::var("USER").ok())
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| anyhow!("say who you are: --by NAME (or set PUSHBATCH_OPERATOR)"))
    }
}

/// Parses `throttle`'s rate: a positive number, or `off`.
pub fn parse_rate(text: &str) -> anyhow::Result<Option<f64>> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let rate: f64 = text.parse().map_err(|_| anyhow!("the rate must be users per second or `off`, got {text:?}"))?;
    if !(rate.is_finite() && rate > 0.0) {
        bail!("the rate must be above 0 users per second (or `off`), got {text}");
    }
    Ok(Some(rate))
}

/// Sends the command to send-batch; its answer, `{"control": …}` or
/// `{"refused": {"reason"}}`, as `run` prints it. A rate that is not a
/// positive number (or `off`) is refused here, before anything is sent.
pub async fn request(env: &EnvMap, command: &ControlCommand) -> anyhow::Result<Value> {
    let (action, job, reason, who, rate) = match command {
        ControlCommand::Stop(a) => ("stop", &a.job, a.reason.clone(), &a.who, None),
        ControlCommand::Pause(a) => ("pause", &a.job, a.reason.clone(), &a.who, None),
        ControlCommand::Resume(a) => ("resume", &a.job, a.reason.clone(), &a.who, None),
        ControlCommand::Throttle(a) => ("throttle", &a.job, None, &a.who, parse_rate(&a.rate)?),
    };
    let request = json!({"control": {"job_id": job, "action": action, "by": who.name()?,
                                     "reason": reason, "rate_per_second": rate}});
    invoke(env, &who.function, &request).await
}

pub async fn run(env: &EnvMap, command: ControlCommand) -> anyhow::Result<ExitCode> {
    let answer = request(env, &command).await?;
    let job = match &command {
        ControlCommand::Stop(a) | ControlCommand::Pause(a) | ControlCommand::Resume(a) => &a.job,
        ControlCommand::Throttle(a) => &a.job,
    };
    if let Some(refused) = answer.get("refused") {
        eprintln!("refused: {}", refused["reason"].as_str().unwrap_or("(no reason given)"));
        return Ok(ExitCode::FAILURE);
    }
    let c = &answer["control"];
    let rate = c["rate_per_second"].as_f64().map_or("no cap".into(), |r| format!("{r} users/s"));
    println!(
        "job {} {} (control: {}, {rate}) by {}; {} idle link(s) woken",
        c["job_id"].as_str().unwrap_or(job),
        c["status"].as_str().unwrap_or("?"),
        c["state"].as_str().unwrap_or("?"),
        c["by"].as_str().unwrap_or("?"),
        c["links_woken"].as_u64().unwrap_or(0)
    );
    Ok(ExitCode::SUCCESS)
}

/// One synchronous Invoke; the function's own errors come back as errors.
async fn invoke(env: &EnvMap, function: &str, request: &Value) -> anyhow::Result<Value> {
    let sdk = aws_clients::sdk_config(env).await;
    let out = aws_clients::lambda(&sdk, env)
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::RequestResponse)
        .payload(Blob::new(request.to_string()))
        .send()
        .await
        .map_err(|e| anyhow!("invoking {function}: {}", aws_sdk_lambda::error::DisplayErrorContext(e)))?;
    let body = out.payload().map(|b| b.as_ref().to_vec()).ok_or_else(|| anyhow!("{function} answered nothing"))?;
    let answer: Value = serde_json::from_slice(&body).context("reading send-batch's answer")?;
    if let Some(error) = out.function_error() {
        bail!("{function} failed ({error}): {}", answer["errorMessage"].as_str().unwrap_or(&answer.to_string()));
    }
    Ok(answer)
}

#[derive(Debug, Args)]
pub struct JobsArgs {
    #[arg(long)]
    pub json: bool,
}

/// A job as `jobs` and `status` show it: the record's status, unless its
/// control says paused or stopping.
pub fn state_of(record: &JobRecord, control: Option<&Control>) -> String {
    match control.map(|c| c.state) {
        Some(ControlState::Paused) => "paused".into(),
        Some(ControlState::Stopped) if !record.status.is_terminal() => "stopping".into(),
        _ => record.status.as_str().into(),
    }
}

/// One line about the control, or None when nobody touched it.
pub fn control_line(control: Option<&Control>, header_rate: Option<f64>) -> Option<String> {
    let rate = control.and_then(|c| c.rate_per_second).or(header_rate);
    let rate = rate.map(|r| format!(", throttled to {r} users/s"));
    match control {
        Some(c) if c.version > 0 => Some(format!(
            "{} by {}{}{}",
            c.state.as_str(),
            c.by,
            c.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
            rate.unwrap_or_default()
        )),
        _ => rate.map(|r| format!("running{r}")),
    }
}

pub async fn list(env: &EnvMap, args: JobsArgs) -> anyhow::Result<ExitCode> {
    let sdk = aws_clients::sdk_config(env).await;
    let jobs = DynamoJobs::new(aws_clients::dynamodb(&sdk, env), env.get_or(JOBS.env, JOBS.default_name));
    let live = jobs.live_jobs().await?;
    let mut rows = Vec::with_capacity(live.len());
    for r in live {
        let control = jobs.control(&r.job_id).await?;
        rows.push((r, control));
    }
    if args.json {
        let out: Vec<Value> = rows
            .iter()
            .map(|(r, c)| {
                json!({"job_id": r.job_id, "state": state_of(r, c.as_ref()), "key": r.key,
                       "started_at_ms": r.started_at_ms, "send_at_ms": r.send_at_ms, "entries": r.counters.entries,
                       "total_entries": r.total_entries, "shards": r.shards.as_ref().map(|s| s.count()),
                       "control": c})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("no job is running, paused or scheduled");
        return Ok(ExitCode::SUCCESS);
    }
    let mut lines = Vec::with_capacity(rows.len());
    for (r, c) in &rows {
        let started = match r.send_at_ms {
            Some(at) if r.status == shared::jobs::JobStatus::Scheduled => format!("at {}", time(at)),
            _ => time(r.started_at_ms),
        };
        let users = match r.total_entries {
            Some(total) => format!("{}/{total}", r.counters.entries),
            None => r.counters.entries.to_string(),
        };
        let header_rate = r.layout.as_ref().and_then(|l| l.header.rate_per_second);
        lines.push(vec![
            r.job_id.clone(),
            state_of(r, c.as_ref()),
            started,
            users,
            r.key.clone(),
            control_line(c.as_ref(), header_rate).unwrap_or_default(),
        ]);
    }
    print!("{}", crate::table::render(&["job", "state", "started", "users", "file", "control"], &lines));
    Ok(ExitCode::SUCCESS)
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| format!("{ms} ms"), |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_positive_numbers_or_off() {
        assert_eq!(parse_rate("2000").unwrap(), Some(2000.0));
        assert_eq!(parse_rate("OFF").unwrap(), None);
        assert!(parse_rate("-5").unwrap_err().to_string().contains("above 0"));
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn a_paused_job_reads_as_paused() {
        let r = JobRecord::new("j", "b", "k", "e", 0);
        let mut c = Control::initial("j");
        assert_eq!(state_of(&r, Some(&c)), "running");
        assert_eq!(control_line(Some(&c), None), None, "nobody touched it");
        c.state = ControlState::Paused;
        c.by = "ann".into();
        c.version = 1;
        c.rate_per_second = Some(50.0);
        assert_eq!(state_of(&r, Some(&c)), "paused");
        assert_eq!(control_line(Some(&c), None).unwrap(), "paused by ann, throttled to 50 users/s");
    }
}
