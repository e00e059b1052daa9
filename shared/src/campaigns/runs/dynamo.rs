//! The campaign-runs table in DynamoDB.

use super::ports::{RunClaim, RunError, RunFinish, RunList, RunSplit};
use super::record::{CampaignRun, Claim, RunState, SplitRecord};
use crate::dynamo::{DynamoError, Item, condition_failed, n, number, s, text};

pub struct DynamoRuns {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoRuns {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
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
            .map_err(|e| DynamoError::new("GetItem", &self.table, e))?;
        out.item().map(from_item).transpose()
    }
}

fn from_item(item: &Item) -> Result<CampaignRun, RunError> {
    let string = |k: &str| text(item, k).cloned();
    let campaign = string("campaign").unwrap_or_else(|| "(no campaign)".into());
    let run_date = string("run_date").unwrap_or_else(|| "(no run_date)".into());
    let corrupt =
        |message: String| RunError::Corrupt { campaign: campaign.clone(), run_date: run_date.clone(), message };
    if !item.contains_key("campaign") || !item.contains_key("run_date") {
        return Err(corrupt("the item has no key".into()));
    }
    // A record ab-split created before scheduled ran has no times: zero.
    let num = |k: &str| number::<i64>(item, k).map(|v| v.unwrap_or(0)).map_err(&corrupt);
    let state = match string("run_state") {
        None => None,
        Some(st) => Some(RunState::parse(&st).ok_or_else(|| corrupt(format!("unknown state {st:?}")))?),
    };
    let split = match string("split") {
        None => None,
        Some(json) => Some(serde_json::from_str(&json).map_err(|e| corrupt(format!("split: {e}")))?),
    };
    Ok(CampaignRun {
        state,
        target_day: string("target_day"),
        lease_until_ms: num("lease_until_ms")?,
        started_at_ms: num("started_at_ms")?,
        updated_at_ms: num("updated_at_ms")?,
        users: num("users")?.max(0) as u64,
        segment_key: string("segment_key"),
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
            Err(e) if condition_failed(&e) => {
                let run = self.get(campaign, run_date).await?.ok_or_else(|| RunError::Corrupt {
                    campaign: campaign.into(),
                    run_date: run_date.into(),
                    message: "the claim's condition failed but the record is gone".into(),
                })?;
                Ok(if run.state == Some(RunState::Querying) { Claim::Busy(run) } else { Claim::Done(run) })
            }
            Err(e) => Err(DynamoError::new("UpdateItem", &self.table, e).into()),
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
            .map_err(|e| DynamoError::new("UpdateItem", &self.table, e))?;
        Ok(())
    }
}

impl RunSplit for DynamoRuns {
    async fn record_split(&self, campaign: &str, run_date: &str, split: &SplitRecord) -> Result<(), RunError> {
        let json = serde_json::to_string(split).map_err(|source| RunError::Encode {
            campaign: campaign.into(),
            run_date: run_date.into(),
            source,
        })?;
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
            .map_err(|e| DynamoError::new("UpdateItem", &self.table, e))?;
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
            let item = item.map_err(|e| DynamoError::new("Query", &self.table, e))?;
            runs.push(from_item(&item)?);
        }
        Ok(runs)
    }
}
