//! `GET /requests/{id}`: for signed-in staff who have a part in pushes
//! (requesters and approvers). The requester and the request's approvers
//! also get the Stop button while its job runs.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use shared::approval::{ApprovalRequest, RequestGet};
use shared::jobs::{ControlRead, ControlState, JobRead, JobRecord, JobsByObject};
use shared::shards::{live, shard_records};

use crate::decide::internal;
use crate::deps::Ports;
use crate::html::message;
use crate::identity::{Caller, forbidden};
use crate::pages;
use crate::pages::status::{JobView, Viewer};
use crate::reply::{html, same_origin_referrer};
use crate::settings::Settings;
use crate::urls::Urls;
use shared::errors::Chain;

/// Fixed texts for `?notice=`: the query never reaches the page itself.
fn notice(query: Option<&str>) -> Option<&'static str> {
    let value = form_urlencoded::parse(query.unwrap_or("").as_bytes()).find(|(k, _)| k == "notice").map(|(_, v)| v)?;
    Some(match value.as_ref() {
        "submitted" => "Your request was sent to the approvers. This page shows what they decide.",
        "approved" => "Approved. The batch file is written and sending has started.",
        "rejected" => "Rejected. The requester has been emailed.",
        "stopping" => "Stop sent: every part of the job stops within one batch.",
        _ => return None,
    })
}

/// Who may see a request: its requester and approvers, and anyone who may
/// request or approve pushes (they share one console).
pub fn may_view(settings: &Settings, r: &ApprovalRequest, email: &str) -> bool {
    may_stop(r, email) || settings.approvers.iter().any(|a| a == email) || settings.requesters.allows(email)
}

/// Who may stop a request's job: the people it concerns.
pub fn may_stop(r: &ApprovalRequest, email: &str) -> bool {
    r.requester == email || r.approvers.iter().any(|a| a == email)
}

/// The request, or the page to answer instead (missing, unreadable, or not
/// the caller's to see).
pub async fn load<P: Ports>(p: &P, id: &str, caller: &Caller) -> Result<ApprovalRequest, Response<Body>> {
    let request = match p.requests().get(id).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Err(html(
                StatusCode::NOT_FOUND,
                message("No such request", "bad", "There is no such request.", ""),
            ));
        }
        Err(e) => {
            tracing::error!(request_id = id, error = %Chain(&e), "reading the request failed");
            return Err(internal("The request could not be read."));
        }
    };
    if !may_view(p.settings(), &request, &caller.email) {
        tracing::warn!(request_id = id, caller = %caller.email, "refused a request's page to an outsider");
        return Err(forbidden(
            "Not your request",
            &format!("You are signed in as {}, who has no part in this request.", caller.email),
        ));
    }
    Ok(request)
}

/// The send jobs of the request's batch file, shards folded in; None when
/// they could not be looked up (shown, not fatal).
pub async fn jobs_of<P: Ports>(p: &P, r: &ApprovalRequest) -> Option<Vec<JobRecord>> {
    let (b, etag) = r.batch.as_ref().and_then(|b| b.etag.as_ref().map(|e| (b, e)))?;
    match p.jobs().find_by_object(&b.bucket, &b.key, etag).await {
        Ok(jobs) => Some(with_shard_progress(p.jobs(), &r.request_id, jobs).await),
        Err(e) => {
            tracing::warn!(request_id = %r.request_id, error = %Chain(&e), "looking up the send job failed");
            None
        }
    }
}

pub async fn show<P: Ports>(p: &P, id: &str, query: Option<&str>, caller: &Caller, urls: &Urls) -> Response<Body> {
    let request = match load(p, id, caller).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let jobs = match jobs_of(p, &request).await {
        Some(jobs) => Some(with_controls(p.jobs(), jobs).await),
        None => None,
    };
    let viewer = Viewer { stop_url: may_stop(&request, &caller.email).then(|| urls.stop(id)) };
    same_origin_referrer(html(
        StatusCode::OK,
        pages::status::render(&request, p.now(), jobs.as_deref(), notice(query), &viewer),
    ))
}

/// A running job's control says whether someone stopped it already (the
/// job's own record says so only once its links have seen it).
async fn with_controls<J: ControlRead>(jobs: &J, found: Vec<JobRecord>) -> Vec<JobView> {
    let mut out = Vec::with_capacity(found.len());
    for job in found {
        let stopping = if job.status.is_terminal() {
            None
        } else {
            match jobs.control(&job.job_id).await {
                Ok(c) => c.filter(|c| c.state == ControlState::Stopped).map(|c| c.by),
                Err(e) => {
                    tracing::warn!(job_id = %job.job_id, error = %Chain(&e), "reading the job's control failed");
                    None
                }
            }
        };
        out.push(JobView { job, stopping });
    }
    out
}

/// A running sharded job's record counts only finished shards; show the
/// running ones' counts too. Shard records never show as jobs of their own.
async fn with_shard_progress<J: JobRead>(jobs: &J, request_id: &str, found: Vec<JobRecord>) -> Vec<JobRecord> {
    let mut out = Vec::with_capacity(found.len());
    for job in found.into_iter().filter(|j| j.shard.is_none()) {
        if job.shards.is_none() || job.status.is_terminal() {
            out.push(job);
            continue;
        }
        match shard_records(jobs, &job).await {
            Ok(shards) => out.push(live(&job, &shards)),
            Err(e) => {
                // The job's own (partial) counts are still worth showing.
                tracing::warn!(request_id, job_id = %job.job_id, error = %Chain(&e), "reading the shard records failed");
                out.push(job);
            }
        }
    }
    out
}
