//! One campaign run: claim the day, query the users table's day index page
//! by page, stream the users into the segment, mark the run done.

use shared::clock::now_ms;

use lambda_runtime::{Error, LambdaEvent};
use serde::Serialize;
use shared::campaigns::{self, Audience, Claim, RunClaim, RunFinish, RunState, SegmentKey};
use shared::objects::{ObjectUpload, ObjectWrite, StreamedObject};
use shared::users::{DayIndex, DayQuery, SelectedUser, UsersByDay};

use crate::event::ScheduleEvent;

/// What the handler needs, as ports.
pub struct Deps<U, R, O> {
    pub users: U,
    pub runs: R,
    pub objects: O,
    pub bucket: String,
    pub lease_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The segment was written.
    Written,
    /// Nobody matched: no segment, nothing to send.
    Empty,
    /// This campaign and day ran before: nothing was done.
    AlreadyRan,
    /// Another invocation is running it now.
    InProgress,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunReport {
    pub campaign: String,
    pub run_date: String,
    pub target_day: String,
    pub outcome: Outcome,
    pub users: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunFailed {
    #[error("unknown campaign {0:?}: campaigns are defined in shared/src/campaigns/defs.rs")]
    UnknownCampaign(String),
    #[error("{0}")]
    NoRunDay(#[from] crate::event::NoRunDay),
    #[error("the run day minus the audience's offset is before year 1")]
    DayOutOfRange,
}

pub async fn handle<U, R, O>(deps: &Deps<U, R, O>, event: LambdaEvent<ScheduleEvent>) -> Result<RunReport, Error>
where
    U: UsersByDay,
    R: RunClaim + RunFinish,
    O: ObjectUpload + ObjectWrite,
{
    let event = event.payload;
    let campaign =
        campaigns::find(&event.campaign).ok_or_else(|| RunFailed::UnknownCampaign(event.campaign.clone()))?;
    let run_day = event.run_day()?;
    let target_day = campaign.audience.target_day(run_day).ok_or(RunFailed::DayOutOfRange)?;
    let run_date = run_day.to_string();
    let job = format!("{}/{run_date}", campaign.id);
    let mut report = RunReport {
        campaign: campaign.id.to_owned(),
        run_date: run_date.clone(),
        target_day: target_day.to_string(),
        outcome: Outcome::Written,
        users: 0,
        segment: None,
    };

    match deps.runs.claim(campaign.id, &run_date, &report.target_day, now_ms(), deps.lease_ms).await? {
        Claim::Claimed => {}
        Claim::Done(run) => {
            tracing::info!(job, users = run.users, segment = ?run.segment_key, "already ran for this day: nothing to do");
            report.outcome = Outcome::AlreadyRan;
            report.users = run.users;
            report.segment = run.segment_key;
            return Ok(report);
        }
        Claim::Busy(run) => {
            tracing::info!(job, lease_until_ms = run.lease_until_ms, "another invocation is running this day");
            report.outcome = Outcome::InProgress;
            return Ok(report);
        }
    }
    tracing::info!(job, target_day = %target_day, "claimed the run; querying users");

    let query = match campaign.audience {
        Audience::SignedUp { completed, .. } => {
            DayQuery { index: DayIndex::SignupDay, day: target_day, signup_completed: completed }
        }
        Audience::LastActive { .. } => {
            DayQuery { index: DayIndex::LastActiveDay, day: target_day, signup_completed: None }
        }
    };
    let key = SegmentKey::new(campaign.id, run_day).key();
    let mut segment = StreamedObject::new(&deps.objects, &deps.bucket, &key, "application/x-ndjson");
    let mut next = None;
    let mut pages = 0u64;
    loop {
        let page = match deps.users.page(&query, next.take()).await {
            Ok(page) => page,
            Err(e) => {
                segment.abort().await;
                return Err(e.into());
            }
        };
        pages += 1;
        let mut lines = Vec::with_capacity(page.users.len() * 32);
        for user in &page.users {
            serde_json::to_writer(&mut lines, &segment_entry(user))?;
            lines.push(b'\n');
        }
        report.users += page.users.len() as u64;
        if let Err(e) = segment.write(&lines).await {
            segment.abort().await;
            return Err(e.into());
        }
        match page.next {
            Some(token) => next = Some(token),
            None => break,
        }
    }

    if report.users == 0 {
        segment.abort().await;
        deps.runs.finish(campaign.id, &run_date, RunState::Empty, 0, None, now_ms()).await?;
        tracing::info!(job, pages, "nobody matched: no segment written");
        report.outcome = Outcome::Empty;
        return Ok(report);
    }
    let bytes = segment.finish().await?;
    deps.runs.finish(campaign.id, &run_date, RunState::Segmented, report.users, Some(&key), now_ms()).await?;
    tracing::info!(job, users = report.users, pages, bytes, segment = key, "segment written");
    shared::metrics::campaigns::segmented(campaign.id, report.users);
    report.segment = Some(key);
    Ok(report)
}

/// A batch-file user entry: the id, and the name for `{{name}}` when known.
fn segment_entry(user: &SelectedUser) -> serde_json::Value {
    match &user.name {
        Some(name) => serde_json::json!({"user_id": user.user_id, "vars": {"name": name}}),
        None => serde_json::Value::String(user.user_id.clone()),
    }
}
