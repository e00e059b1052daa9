//! What scheduled, ab-split and the CLI ask of the campaign-runs table.

use std::future::Future;

use super::record::{CampaignRun, Claim, RunState, SplitRecord};
use crate::dynamo::DynamoError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Dynamo(#[from] DynamoError),
    #[error("campaign run {campaign}/{run_date} is corrupt: {message}")]
    Corrupt { campaign: String, run_date: String, message: String },
    #[error("the split of {campaign}/{run_date} cannot be encoded")]
    Encode {
        campaign: String,
        run_date: String,
        #[source]
        source: serde_json::Error,
    },
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
