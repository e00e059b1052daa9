//! `pushbatch why JOB USER`: what became of one user in one job, read from
//! the job's reports as send-batch wrote them: the skipped and failed parts
//! (each batch's, so it works while the job runs), the deferred parts'
//! files, and, when none of them names the user, the job's file itself.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use serde::Serialize;
use serde_json::Value;
use shared::batch::EntryReader;
use shared::jobs::{JobRead, JobRecord};
use shared::report::{failed_parts_prefix, skipped_parts_prefix};

use crate::env_file::EnvMap;
use crate::jobs::Jobs;

#[derive(Debug, Args)]
pub struct WhyArgs {
    /// The job id (`pushbatch jobs`, or the one `send` printed)
    pub job: String,
    /// The user id, as the file names them
    pub user: String,
    /// Print the findings as JSON
    #[arg(long)]
    pub json: bool,
}

/// One thing the reports say about the user. A user named twice in a file
/// has a finding per entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "fate", rename_all = "snake_case")]
pub enum Finding {
    /// In `skipped.jsonl`: opted out, muted, no devices, quiet hours, capped.
    Skipped { reason: String, part: Option<i64> },
    /// Sent, and these devices failed (in `failed.jsonl`, with why).
    DevicesFailed { devices: Vec<FailedDevice>, part: Option<i64> },
    /// Deferred to a part (their local time, the end of their quiet hours).
    Deferred { at_ms: i64, part_finished: bool },
    /// Their entry is invalid (`detail` says how); skipped.jsonl lists it
    /// by offset, as it names no user.
    Invalid { detail: String, offset: u64, line: Option<u64> },
    /// In the file, and nothing says they were not sent.
    Sent { offset: u64, line: Option<u64> },
    /// In the file, past where the job has read so far.
    NotReachedYet { offset: u64, line: Option<u64> },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedDevice {
    pub platform: String,
    /// The token's last 8 characters: enough to tell devices apart.
    pub token_end: String,
    pub error: String,
}

/// What the report parts say about `user`: each part's key (to tell a
/// deferred part's batches, `at<instant>-<offset>`, from the job's own) and
/// its lines.
pub fn from_reports(user: &str, skipped: &[(String, String)], failed: &[(String, String)]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (key, line) in skipped {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        if v["user_id"].as_str() == Some(user) {
            let reason = v["reason"].as_str().unwrap_or("unknown").to_owned();
            out.push(Finding::Skipped { reason, part: part_of_key(key) });
        }
    }
    for (key, line) in failed {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        if v["user_id"].as_str() != Some(user) {
            continue;
        }
        let devices = v["devices"].as_array().map(Vec::as_slice).unwrap_or_default();
        let errors = v["errors"].as_array().map(Vec::as_slice).unwrap_or_default();
        let devices = devices
            .iter()
            .zip(errors.iter().map(Some).chain(std::iter::repeat(None)))
            .map(|(d, e)| FailedDevice {
                platform: d["platform"].as_str().unwrap_or("?").to_owned(),
                token_end: token_end(d["token"].as_str().unwrap_or("")),
                error: e.and_then(Value::as_str).unwrap_or("unknown").to_owned(),
            })
            .collect();
        out.push(Finding::DevicesFailed { devices, part: part_of_key(key) });
    }
    out
}

fn token_end(token: &str) -> String {
    let start = token.char_indices().rev().nth(7).map_or(0, |(i, _)| i);
    format!("…{}", &token[start..])
}

/// `.../at000001764662400000-00000000000000000120.jsonl` → the instant.
fn part_of_key(key: &str) -> Option<i64> {
    let name = key.rsplit('/').next()?;
    name.strip_prefix("at")?.split('-').next()?.parse().ok()
}

fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

pub fn describe(user: &str, job: &str, findings: &[Finding]) -> String {
    if findings.is_empty() {
        return format!("{user} is not in job {job}'s file\n");
    }
    let mut out = String::new();
    for f in findings {
        let in_part = |part: &Option<i64>| part.map(|at| format!(" (in its part at {})", when(at))).unwrap_or_default();
        let line = match f {
            Finding::Skipped { reason, part } => format!("{user} was skipped: {reason}{}", in_part(part)),
            Finding::DevicesFailed { devices, part } => {
                let list: Vec<String> =
                    devices.iter().map(|d| format!("{} {}: {}", d.platform, d.token_end, d.error)).collect();
                format!("{user} was sent{}; failed on {}", in_part(part), list.join(", "))
            }
            Finding::Deferred { at_ms, part_finished: true } => {
                format!("{user} was deferred to {} and sent then", when(*at_ms))
            }
            Finding::Deferred { at_ms, part_finished: false } => format!("{user} is due at {}", when(*at_ms)),
            Finding::Invalid { detail, offset, line } => {
                format!(
                    "{user} was skipped: invalid ({detail}; entry at byte {offset}{})",
                    line.map(|l| format!(", line {l}")).unwrap_or_default()
                )
            }
            Finding::Sent { offset, line } => {
                format!(
                    "{user} was sent (entry at byte {offset}{})",
                    line.map(|l| format!(", line {l}")).unwrap_or_default()
                )
            }
            Finding::NotReachedYet { offset, .. } => {
                format!("{user} is at byte {offset}, which the job has not reached yet")
            }
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// What became of `user` in `job`: the job's record and the findings
/// `run` prints.
pub async fn lookup(env: &EnvMap, job: &str, user: &str) -> anyhow::Result<(JobRecord, Vec<Finding>)> {
    let jobs = Jobs::from_env(env).await;
    let Some(record) = jobs.jobs.get(job).await? else {
        bail!("no job {job} in the jobs table");
    };
    let findings = findings(&jobs, &record, user).await?;
    Ok((record, findings))
}

pub async fn run(env: &EnvMap, args: WhyArgs) -> anyhow::Result<ExitCode> {
    let (record, findings) = lookup(env, &args.job, &args.user).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
    } else {
        print!("{}", describe(&args.user, &record.job_id, &findings));
    }
    Ok(ExitCode::SUCCESS)
}

async fn findings(jobs: &Jobs, record: &JobRecord, user: &str) -> anyhow::Result<Vec<Finding>> {
    let skipped = lines_under(jobs, &record.bucket, &skipped_parts_prefix(&record.job_id)).await?;
    let failed = lines_under(jobs, &record.bucket, &failed_parts_prefix(&record.job_id)).await?;
    let mut out = from_reports(user, &skipped, &failed);
    let parts = lines_under(jobs, &record.bucket, &format!("reports/{}/parts/", record.job_id)).await?;
    for (key, line) in &parts {
        let named = serde_json::from_str::<Value>(line).is_ok_and(|v| v["user_id"].as_str() == Some(user) || v == user);
        let at = key.rsplit('/').next().and_then(|n| n.strip_suffix(".jsonl")).and_then(|n| n.parse().ok());
        if let (true, Some(at_ms)) = (named, at) {
            let part_finished = record.parts.as_ref().is_some_and(|p| p.is_finished(at_ms));
            out.push(Finding::Deferred { at_ms, part_finished });
        }
    }
    // Sent or skipped in the job's own pass, or deferred: the reports said.
    // Otherwise an invalid entry may be theirs, and the file tells sent
    // from not reached from not there.
    if out.is_empty() {
        out = invalid_entries(jobs, record, user, &skipped).await?;
    }
    if out.is_empty() {
        out = in_file(jobs, record, user).await?;
    }
    Ok(out)
}

/// How much of the file is read at an invalid entry's offset to find its
/// `user_id`; an entry longer than this is not matched.
const INVALID_ENTRY_WINDOW: u64 = 64 * 1024;

/// The job's invalid entries that are the user's: skipped.jsonl lists an
/// invalid entry by its offset (it could not be read as a user), so each is
/// read back from the job's file there, and matched by its `user_id`.
async fn invalid_entries(
    jobs: &Jobs,
    record: &JobRecord,
    user: &str,
    skipped: &[(String, String)],
) -> anyhow::Result<Vec<Finding>> {
    let mut out = Vec::new();
    for (key, line) in skipped {
        // A part's offsets are in its own file, and its entries were valid.
        if part_of_key(key).is_some() {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        let (Some("invalid"), Some(offset)) = (v["reason"].as_str(), v["offset"].as_u64()) else { continue };
        let range = format!("bytes={offset}-{}", offset + INVALID_ENTRY_WINDOW - 1);
        let object =
            jobs.s3.get_object().bucket(&record.bucket).key(&record.key).if_match(&record.etag).range(range).send();
        let object = object.await.with_context(|| {
            format!("reading s3://{}/{} at byte {offset} (ETag {})", record.bucket, record.key, record.etag)
        })?;
        let bytes = object.body.collect().await?.into_bytes();
        let entry = serde_json::Deserializer::from_slice(&bytes).into_iter::<Value>().next();
        let named = match entry {
            Some(Ok(entry)) => match &entry["user_id"] {
                Value::String(id) => id == user,
                Value::Number(id) => id.to_string() == user,
                _ => false,
            },
            _ => false,
        };
        if named {
            let detail = v["detail"].as_str().unwrap_or("unknown").to_owned();
            out.push(Finding::Invalid { detail, offset, line: v["line"].as_u64() });
        }
    }
    Ok(out)
}

/// Every line of every object under `prefix`, with its key.
async fn lines_under(jobs: &Jobs, bucket: &str, prefix: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut pages = jobs.s3.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.with_context(|| format!("listing s3://{bucket}/{prefix}"))?;
        for key in page.contents().iter().filter_map(|o| o.key()) {
            let body = jobs.s3.get_object().bucket(bucket).key(key).send().await;
            let body = body.with_context(|| format!("reading s3://{bucket}/{key}"))?.body.collect().await?;
            let text = String::from_utf8_lossy(&body.into_bytes()).into_owned();
            out.extend(text.lines().filter(|l| !l.trim().is_empty()).map(|l| (key.to_owned(), l.to_owned())));
        }
    }
    Ok(out)
}

/// Reads the job's file (the version the job sent: its ETag) for the user.
async fn in_file(jobs: &Jobs, record: &JobRecord, user: &str) -> anyhow::Result<Vec<Finding>> {
    let layout = record.layout.as_ref().context("the job has not read its file's header yet")?;
    let object = jobs
        .s3
        .get_object()
        .bucket(&record.bucket)
        .key(&record.key)
        .if_match(&record.etag)
        .range(format!("bytes={}-", layout.users_start))
        .send()
        .await
        .with_context(|| {
            format!("reading s3://{}/{} as the job sent it (ETag {})", record.bucket, record.key, record.etag)
        })?;
    let body = tokio::io::BufReader::with_capacity(256 * 1024, object.body.into_async_read());
    let mut reader = EntryReader::new(body, layout.users_start, layout.encoding, layout.first_line);
    let mut out = Vec::new();
    while let Some(item) = reader.next_entry().await? {
        if item.entry.as_ref().is_ok_and(|e| e.user_id == user) {
            let (offset, line) = (item.offset, item.line);
            out.push(if offset >= record.offset && !record.status.is_terminal() {
                Finding::NotReachedYet { offset, line }
            } else {
                Finding::Sent { offset, line }
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(key: &str, line: &str) -> (String, String) {
        (key.to_owned(), line.to_owned())
    }

    #[test]
    fn reports_name_what_became_of_a_user() {
        let skipped = [
            l("reports/j/skipped-parts/00000000000000000100.jsonl", r#"{"user_id":"u-1","reason":"capped"}"#),
            l(
                "reports/j/skipped-parts/at000001764662400000-00000000000000000090.jsonl",
                r#"{"user_id":"u-2","reason":"quiet_hours"}"#,
            ),
            l("reports/j/skipped-parts/00000000000000000100.jsonl", r#"{"reason":"invalid","offset":4}"#),
        ];
        let failed = [l(
            "reports/j/failed-parts/00000000000000000100.jsonl",
            r#"{"user_id":"u-3","devices":[{"platform":"ios","token":"0123456789abcdef"}],"errors":["BadDeviceToken"]}"#,
        )];
        assert_eq!(
            from_reports("u-1", &skipped, &failed),
            vec![Finding::Skipped { reason: "capped".into(), part: None }]
        );
        assert_eq!(
            from_reports("u-2", &skipped, &failed),
            vec![Finding::Skipped { reason: "quiet_hours".into(), part: Some(1_764_662_400_000) }]
        );
        let u3 = from_reports("u-3", &skipped, &failed);
        assert_eq!(describe("u-3", "j", &u3), "u-3 was sent; failed on ios …89abcdef: BadDeviceToken\n");
        assert_eq!(describe("u-9", "j", &from_reports("u-9", &skipped, &failed)), "u-9 is not in job j's file\n");
        assert_eq!(
            describe("u-2", "j", &[Finding::Deferred { at_ms: 1_764_662_400_000, part_finished: false }]),
            "u-2 is due at 2025-12-02 08:00 UTC\n"
        );
        let invalid = Finding::Invalid { detail: "unknown_platform".into(), offset: 4, line: Some(2) };
        assert_eq!(
            describe("u-4", "j", &[invalid]),
            "u-4 was skipped: invalid (unknown_platform; entry at byte 4, line 2)\n"
        );
    }
}
