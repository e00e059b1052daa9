//! `pushbatch campaign report CAMPAIGN [--since DATE]`: per variant and for
//! the control group, over the campaign's daily runs, how many users were
//! assigned and what happened to their pushes.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;
use shared::campaigns::{CONTROL, CampaignRun, DynamoRuns, RunList};
use shared::jobs::{DynamoJobs, JobRecord, JobStatus};
use shared::schema::{CAMPAIGN_RUNS, JOBS};

use crate::aws_clients;
use crate::env_file::EnvMap;

#[derive(Debug, Subcommand)]
pub enum CampaignCommand {
    /// Run a campaign's day now (or a past day, to back-fill) by invoking scheduled
    Run(RunArgs),
    /// Users assigned, sent, delivered, pruned and failed per variant
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The campaign id (see shared/src/campaigns/defs.rs)
    pub campaign: String,
    /// The UTC day to run as (YYYY-MM-DD) [default: today]
    #[arg(long)]
    pub date: Option<chrono::NaiveDate>,
    /// The scheduled function's name (in AWS: <stack>-scheduled)
    #[arg(long, env = "SCHEDULED_FUNCTION", default_value = "scheduled")]
    pub function: String,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The campaign id (see shared/src/campaigns/defs.rs)
    pub campaign: String,
    /// Only runs on or after this UTC day (YYYY-MM-DD)
    #[arg(long)]
    pub since: Option<chrono::NaiveDate>,
    #[arg(long)]
    pub json: bool,
}

/// One variant (or the control group), summed over runs.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct VariantRow {
    pub variant: String,
    pub assigned: u64,
    /// Users a push was sent to (had a device, not opted out or muted).
    pub sent: u64,
    pub delivered: u64,
    pub pruned: u64,
    pub failed: u64,
    /// Runs whose batch file has no finished job yet.
    pub pending_runs: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignReport {
    pub campaign: String,
    pub runs: Vec<String>,
    pub variants: Vec<VariantRow>,
}

/// Sums the runs' assignments and their jobs' counters; `jobs` maps a batch
/// file's object id to its job. The control group is never sent: its row
/// has assignments only.
pub fn tally(campaign: &str, runs: &[CampaignRun], jobs: &BTreeMap<String, JobRecord>) -> CampaignReport {
    let mut rows: BTreeMap<String, VariantRow> = BTreeMap::new();
    let mut dates = Vec::new();
    for run in runs {
        let Some(split) = &run.split else { continue };
        dates.push(run.run_date.clone());
        for (variant, assigned) in &split.assigned {
            let row = rows
                .entry(variant.clone())
                .or_insert_with(|| VariantRow { variant: variant.clone(), ..VariantRow::default() });
            row.assigned += assigned;
            let Some(object) = split.batches.get(variant) else { continue };
            match jobs.get(object).filter(|j| j.status == JobStatus::Done) {
                Some(job) => {
                    let devices = job.counters.total_devices();
                    row.sent += job.counters.targeted_users;
                    row.delivered += devices.delivered;
                    row.pruned += devices.pruned;
                    row.failed += devices.failed;
                }
                None => row.pending_runs += 1,
            }
        }
    }
    // Variants in name order, the control group last.
    let control = rows.remove(CONTROL);
    let mut variants: Vec<VariantRow> = rows.into_values().collect();
    variants.extend(control);
    CampaignReport { campaign: campaign.to_owned(), runs: dates, variants }
}

/// Invokes scheduled synchronously for one campaign and day; returns its
/// report (`outcome`: written, empty, already_ran or in_progress).
pub async fn run_day(
    env: &EnvMap,
    function: &str,
    campaign: &str,
    date: chrono::NaiveDate,
) -> anyhow::Result<serde_json::Value> {
    known(campaign)?;
    let sdk = aws_clients::sdk_config(env).await;
    let payload = serde_json::json!({"campaign": campaign, "date": date.to_string()});
    let out = aws_clients::lambda(&sdk, env)
        .invoke()
        .function_name(function)
        .payload(aws_sdk_lambda::primitives::Blob::new(payload.to_string()))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("invoking {function}: {}", aws_sdk_lambda::error::DisplayErrorContext(e)))?;
    let body = out.payload().map(|b| String::from_utf8_lossy(b.as_ref()).into_owned()).unwrap_or_default();
    if let Some(kind) = out.function_error() {
        anyhow::bail!("{function} failed ({kind}): {body}");
    }
    serde_json::from_str(&body).map_err(|e| anyhow::anyhow!("{function} answered {body:?}: {e}"))
}

pub async fn dispatch(env: &EnvMap, command: CampaignCommand) -> anyhow::Result<ExitCode> {
    match command {
        CampaignCommand::Run(args) => run(env, args).await,
        CampaignCommand::Report(args) => report(env, args).await,
    }
}

pub async fn run(env: &EnvMap, args: RunArgs) -> anyhow::Result<ExitCode> {
    let date = args.date.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let report = run_day(env, &args.function, &args.campaign, date).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

fn known(campaign: &str) -> anyhow::Result<()> {
    if shared::campaigns::find(campaign).is_none() {
        let known: Vec<&str> = shared::campaigns::ALL.iter().map(|c| c.id).collect();
        anyhow::bail!("unknown campaign {campaign:?}; campaigns: {}", known.join(", "));
    }
    Ok(())
}

/// Reads the campaign's runs and their jobs from the tables `env` names.
pub async fn gather(env: &EnvMap, campaign: &str, since: Option<chrono::NaiveDate>) -> anyhow::Result<CampaignReport> {
    known(campaign)?;
    let sdk = aws_clients::sdk_config(env).await;
    let dynamodb = aws_clients::dynamodb(&sdk, env);
    let runs = DynamoRuns::new(dynamodb.clone(), env.get_or(CAMPAIGN_RUNS.env, CAMPAIGN_RUNS.default_name));
    let job_table = DynamoJobs::new(dynamodb, env.get_or(JOBS.env, JOBS.default_name));
    let since = since.map(|d| d.to_string());
    let runs = runs.list(campaign, since.as_deref()).await?;
    let mut jobs = BTreeMap::new();
    for object in runs.iter().filter_map(|r| r.split.as_ref()).flat_map(|s| s.batches.values()) {
        // A re-uploaded file would have a new object id; one file, one job.
        if let Some(job) = job_table.find_by_object_id(object).await?.into_iter().max_by_key(|j| j.started_at_ms) {
            jobs.insert(object.clone(), job);
        }
    }
    Ok(tally(campaign, &runs, &jobs))
}

pub async fn report(env: &EnvMap, args: ReportArgs) -> anyhow::Result<ExitCode> {
    let report = gather(env, &args.campaign, args.since).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}: {} run(s){}",
        report.campaign,
        report.runs.len(),
        report.runs.first().map(|f| format!(" from {f}")).unwrap_or_default()
    );
    let rows: Vec<Vec<String>> = report
        .variants
        .iter()
        .map(|r| {
            let sent = if r.variant == CONTROL { "-".to_owned() } else { r.sent.to_string() };
            vec![
                r.variant.clone(),
                r.assigned.to_string(),
                sent,
                r.delivered.to_string(),
                r.pruned.to_string(),
                r.failed.to_string(),
                r.pending_runs.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        crate::table::render(&["variant", "assigned", "sent", "delivered", "pruned", "failed", "pending"], &rows)
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::campaigns::SplitRecord;
    use shared::counters::Counters;

    fn run(date: &str, assigned: &[(&str, u64)], batches: &[(&str, &str)]) -> CampaignRun {
        CampaignRun {
            split: Some(SplitRecord {
                assigned: assigned.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                batches: batches.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                ..SplitRecord::default()
            }),
            ..CampaignRun::new("c", date)
        }
    }

    fn job(status: JobStatus, targeted: u64, delivered: u64) -> JobRecord {
        let mut counters = Counters { targeted_users: targeted, ..Counters::default() };
        counters.platform(shared::batch::Platform::Ios).delivered = delivered;
        counters.platform(shared::batch::Platform::Android).pruned = 1;
        JobRecord { status, version: 0, counters, invocations: 1, ..JobRecord::new("j", "b", "k", "e", 0) }
    }

    #[test]
    fn sums_runs_per_variant_and_keeps_control_unsent_and_last() {
        let runs = [
            run("2026-11-01", &[("a", 10), ("b", 8), (CONTROL, 2)], &[("a", "o1"), ("b", "o2")]),
            run("2026-11-02", &[("a", 5), ("b", 0), (CONTROL, 1)], &[("a", "o3")]),
        ];
        let jobs = BTreeMap::from([
            ("o1".to_owned(), job(JobStatus::Done, 9, 12)),
            ("o2".to_owned(), job(JobStatus::Running, 0, 0)),
            ("o3".to_owned(), job(JobStatus::Done, 5, 6)),
        ]);
        let report = tally("c", &runs, &jobs);
        assert_eq!(report.runs, ["2026-11-01", "2026-11-02"]);
        let names: Vec<&str> = report.variants.iter().map(|r| r.variant.as_str()).collect();
        assert_eq!(names, ["a", "b", CONTROL]);
        let a = &report.variants[0];
        assert_eq!((a.assigned, a.sent, a.delivered, a.pruned, a.pending_runs), (15, 14, 18, 2, 0));
        assert_eq!((report.variants[1].assigned, report.variants[1].pending_runs), (8, 1));
        let control = &report.variants[2];
        assert_eq!((control.assigned, control.sent, control.delivered), (3, 0, 0));
    }
}
