//! One record per campaign and UTC day in the campaign-runs table: the
//! conditional marker that makes a re-run of scheduled a no-op, the segment
//! it wrote, and what ab-split assigned. `pushbatch campaign report` reads it.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Mutex;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// scheduled holds the run (until `lease_until_ms`).
    Querying,
    /// The segment is written.
    Segmented,
    /// The query selected nobody: no segment, nothing to send.
    Empty,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Querying => "querying",
            RunState::Segmented => "segmented",
            RunState::Empty => "empty",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "querying" => RunState::Querying,
            "segmented" => RunState::Segmented,
            "empty" => RunState::Empty,
            _ => return None,
        })
    }
}

/// What ab-split did with a run's segment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitRecord {
    pub segment_etag: String,
    pub entries: u64,
    /// Entries without a usable user id, by reason: not assigned.
    pub invalid: BTreeMap<String, u64>,
    /// Users per variant name, and `control`.
    pub assigned: BTreeMap<String, u64>,
    /// Variant name → `<bucket>/<key>#<etag>` of its batch file (the jobs
    /// table's `by_object` key). Variants with no users have none.
    pub batches: BTreeMap<String, String>,
    pub control_key: String,
    pub at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignRun {
    pub campaign: String,
    /// The run's UTC day, `YYYY-MM-DD`.
    pub run_date: String,
    /// A record that only ab-split wrote (a segment put by hand) has none.
    pub state: Option<RunState>,
    pub target_day: Option<String>,
    pub lease_until_ms: i64,
    pub started_at_ms: i64,
    pub updated_at_ms: i64,
    pub users: u64,
    pub segment_key: Option<String>,
    pub split: Option<SplitRecord>,
}

impl CampaignRun {
    /// A run nobody has touched yet.
    pub fn new(campaign: &str, run_date: &str) -> Self {
        Self {
            campaign: campaign.to_owned(),
            run_date: run_date.to_owned(),
            state: None,
            target_day: None,
            lease_until_ms: 0,
            started_at_ms: 0,
            updated_at_ms: 0,
            users: 0,
            segment_key: None,
            split: None,
        }
    }
}

/// The outcome of trying to start a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This invocation runs it.
    Claimed,
    /// It ran already: a re-run is a no-op.
    Done(CampaignRun),
    /// Another invocation holds it and its lease has not run out.
    Busy(CampaignRun),
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("DynamoDB {operation} on the campaign-runs table: {message}")]
    Dynamo { operation: &'static str, message: String },
    #[error("campaign run {campaign}/{run_date} is corrupt: {message}")]
    Corrupt { campaign: String, run_date: String, message: String },
}

pub trait RunClaim: Send + Sync {
    /// Creates the run as `querying`, or takes over one whose holder's
    /// lease ran out (it crashed); anything else is reported, not changed.
    fn claim(
        &self,
        campaign: &str,
        run_date: &str,
        target_day: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> impl Future<Output = Result<Claim, RunError>> + Send;
}

pub trait RunFinish: Send + Sync {
    fn finish(
        &self,
        campaign: &str,
        run_date: &str,
        state: RunState,
        users: u64,
        segment_key: Option<&str>,
        now_ms: i64,
    ) -> impl Future<Output = Result<(), RunError>> + Send;
}

pub trait RunSplit: Send + Sync {
    /// Records ab-split's counts; creates the record if scheduled did not.
    fn record_split(
        &self,
        campaign: &str,
        run_date: &str,
        split: &SplitRecord,
    ) -> impl Future<Output = Result<(), RunError>> + Send;
}

pub trait RunList: Send + Sync {
    /// A campaign's runs from `since` (inclusive, `YYYY-MM-DD`), oldest first.
    fn list(
        &self,
        campaign: &str,
        since: Option<&str>,
    ) -> impl Future<Output = Result<Vec<CampaignRun>, RunError>> + Send;
}

pub struct DynamoRuns {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoRuns {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    fn err(operation: &'static str, e: impl std::fmt::Display) -> RunError {
        RunError::Dynamo { operation, message: e.to_string() }
    }

    async fn get(&self, campaign: &str, run_date: &str) -> Result<Option<CampaignRun>, RunError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("campaign", s(campaign))
            .key("run_date", s(run_date))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Self::err("GetItem", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        out.item().map(from_item).transpose()
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn from_item(item: &HashMap<String, AttributeValue>) -> Result<CampaignRun, RunError> {
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let num = |k: &str| item.get(k).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let campaign = text("campaign").unwrap_or_default();
    let run_date = text("run_date").unwrap_or_default();
    let corrupt =
        |message: String| RunError::Corrupt { campaign: campaign.clone(), run_date: run_date.clone(), message };
    let state = match text("run_state") {
        None => None,
        Some(st) => Some(RunState::parse(&st).ok_or_else(|| corrupt(format!("unknown state {st:?}")))?),
    };
    let split = match text("split") {
        None => None,
        Some(json) => Some(serde_json::from_str(&json).map_err(|e| corrupt(format!("split: {e}")))?),
    };
    Ok(CampaignRun {
        state,
        target_day: text("target_day"),
        lease_until_ms: num("lease_until_ms"),
        started_at_ms: num("started_at_ms"),
        updated_at_ms: num("updated_at_ms"),
        users: num("users").max(0) as u64,
        segment_key: text("segment_key"),
        split,
        campaign,
        run_date,
    })
}

impl RunClaim for DynamoRuns {
    async fn claim(
        &self,
        campaign: &str,
        run_date: &str,
        target_day: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Claim, RunError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("campaign", s(campaign))
            .key("run_date", s(run_date))
            .update_expression(
                "SET run_state = :querying, target_day = :target, lease_until_ms = :lease, \
                 started_at_ms = :now, updated_at_ms = :now",
            )
            // A record ab-split created has no state: scheduled may still run.
            .condition_expression(
                "attribute_not_exists(run_state) OR (run_state = :querying AND lease_until_ms < :now)",
            )
            .expression_attribute_values(":querying", s(RunState::Querying.as_str()))
            .expression_attribute_values(":target", s(target_day))
            .expression_attribute_values(":lease", n(now_ms + lease_ms))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_conditional_check_failed_exception()) => {
                let run = self.get(campaign, run_date).await?.ok_or_else(|| RunError::Corrupt {
                    campaign: campaign.into(),
                    run_date: run_date.into(),
                    message: "the claim's condition failed but the record is gone".into(),
                })?;
                Ok(if run.state == Some(RunState::Querying) { Claim::Busy(run) } else { Claim::Done(run) })
            }
            Err(e) => Err(Self::err("UpdateItem", aws_sdk_dynamodb::error::DisplayErrorContext(e))),
        }
    }
}

impl RunFinish for DynamoRuns {
    async fn finish(
        &self,
        campaign: &str,
        run_date: &str,
        state: RunState,
        users: u64,
        segment_key: Option<&str>,
        now_ms: i64,
    ) -> Result<(), RunError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("campaign", s(campaign))
            .key("run_date", s(run_date))
            .expression_attribute_values(":state", s(state.as_str()))
            .expression_attribute_values(":users", n(users))
            .expression_attribute_values(":now", n(now_ms));
        request = match segment_key {
            Some(key) => request
                .update_expression("SET run_state = :state, #users = :users, updated_at_ms = :now, segment_key = :key")
                .expression_attribute_values(":key", s(key)),
            None => request.update_expression("SET run_state = :state, #users = :users, updated_at_ms = :now"),
        };
        request
            .expression_attribute_names("#users", "users")
            .send()
            .await
            .map_err(|e| Self::err("UpdateItem", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        Ok(())
    }
}

impl RunSplit for DynamoRuns {
    async fn record_split(&self, campaign: &str, run_date: &str, split: &SplitRecord) -> Result<(), RunError> {
        let json = serde_json::to_string(split).map_err(|e| Self::err("UpdateItem", e))?;
        self.client
            .update_item()
            .table_name(&self.table)
            .key("campaign", s(campaign))
            .key("run_date", s(run_date))
            // SPLIT is one of DynamoDB's reserved words.
            .update_expression("SET #split = :split")
            .expression_attribute_names("#split", "split")
            .expression_attribute_values(":split", s(json))
            .send()
            .await
            .map_err(|e| Self::err("UpdateItem", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        Ok(())
    }
}

impl RunList for DynamoRuns {
    async fn list(&self, campaign: &str, since: Option<&str>) -> Result<Vec<CampaignRun>, RunError> {
        let mut request = self
            .client
            .query()
            .table_name(&self.table)
            .expression_attribute_values(":c", s(campaign))
            .consistent_read(true);
        request = match since {
            Some(since) => request
                .key_condition_expression("campaign = :c AND run_date >= :since")
                .expression_attribute_values(":since", s(since)),
            None => request.key_condition_expression("campaign = :c"),
        };
        let mut pages = request.into_paginator().items().send();
        let mut runs = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| Self::err("Query", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
            runs.push(from_item(&item)?);
        }
        Ok(runs)
    }
}

/// Runs in memory, for tests.
#[derive(Default)]
pub struct MemoryRuns {
    runs: Mutex<BTreeMap<(String, String), CampaignRun>>,
}

impl MemoryRuns {
    pub fn get(&self, campaign: &str, run_date: &str) -> Option<CampaignRun> {
        self.lock().get(&(campaign.to_owned(), run_date.to_owned())).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), CampaignRun>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn upsert(&self, campaign: &str, run_date: &str, f: impl FnOnce(&mut CampaignRun)) {
        let mut runs = self.lock();
        let run = runs
            .entry((campaign.to_owned(), run_date.to_owned()))
            .or_insert_with(|| CampaignRun::new(campaign, run_date));
        f(run);
    }
}

impl RunClaim for MemoryRuns {
    async fn claim(
        &self,
        campaign: &str,
        run_date: &str,
        target_day: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Claim, RunError> {
        if let Some(run) = self.get(campaign, run_date) {
            match run.state {
                Some(RunState::Querying) if run.lease_until_ms >= now_ms => return Ok(Claim::Busy(run)),
                Some(RunState::Segmented | RunState::Empty) => return Ok(Claim::Done(run)),
                _ => {}
            }
        }
        self.upsert(campaign, run_date, |run| {
            run.state = Some(RunState::Querying);
            run.target_day = Some(target_day.to_owned());
            run.lease_until_ms = now_ms + lease_ms;
            run.started_at_ms = now_ms;
            run.updated_at_ms = now_ms;
        });
        Ok(Claim::Claimed)
    }
}

impl RunFinish for MemoryRuns {
    async fn finish(
        &self,
        campaign: &str,
        run_date: &str,
        state: RunState,
        users: u64,
        segment_key: Option<&str>,
        now_ms: i64,
    ) -> Result<(), RunError> {
        self.upsert(campaign, run_date, |run| {
            run.state = Some(state);
            run.users = users;
            run.updated_at_ms = now_ms;
            if let Some(key) = segment_key {
                run.segment_key = Some(key.to_owned());
            }
        });
        Ok(())
    }
}

impl RunSplit for MemoryRuns {
    async fn record_split(&self, campaign: &str, run_date: &str, split: &SplitRecord) -> Result<(), RunError> {
        self.upsert(campaign, run_date, |run| run.split = Some(split.clone()));
        Ok(())
    }
}

impl RunList for MemoryRuns {
    async fn list(&self, campaign: &str, since: Option<&str>) -> Result<Vec<CampaignRun>, RunError> {
        Ok(self
            .lock()
            .values()
            .filter(|r| r.campaign == campaign && since.is_none_or(|s| r.run_date.as_str() >= s))
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_claim_is_taken_once_and_taken_over_only_after_its_lease() {
        let runs = MemoryRuns::default();
        assert_eq!(runs.claim("c", "2026-01-02", "2026-01-01", 1_000, 500).await.unwrap(), Claim::Claimed);
        assert!(matches!(runs.claim("c", "2026-01-02", "2026-01-01", 1_200, 500).await.unwrap(), Claim::Busy(_)));
        // The holder crashed: its lease ran out.
        assert_eq!(runs.claim("c", "2026-01-02", "2026-01-01", 1_600, 500).await.unwrap(), Claim::Claimed);
        runs.finish("c", "2026-01-02", RunState::Segmented, 7, Some("segments/c/2026-01-02.jsonl"), 1_700)
            .await
            .unwrap();
        match runs.claim("c", "2026-01-02", "2026-01-01", 9_999_999, 500).await.unwrap() {
            Claim::Done(run) => assert_eq!((run.users, run.state), (7, Some(RunState::Segmented))),
            other => panic!("{other:?}"),
        }
        assert_eq!(runs.list("c", Some("2026-01-03")).await.unwrap(), vec![]);
        assert_eq!(runs.list("c", Some("2026-01-02")).await.unwrap().len(), 1);
    }
}
