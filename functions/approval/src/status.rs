//! `GET /requests/{id}`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use shared::approval::RequestGet;
use shared::jobs::{JobRead, JobRecord, JobsByObject};
use shared::shards::{live, shard_records};

use crate::deps::Ports;
use crate::html::message;
use crate::links::internal;
use crate::pages;
use crate::reply::html;
use shared::errors::Chain;

/// Fixed texts for `?notice=`: the query never reaches the page itself.
fn notice(query: Option<&str>) -> Option<&'static str> {
    let value = form_urlencoded::parse(query.unwrap_or("").as_bytes()).find(|(k, _)| k == "notice").map(|(_, v)| v)?;
    Some(match value.as_ref() {
        "submitted" => "Your request was sent to the approvers. This page shows what they decide.",
        "approved" => "Approved. The batch file is written and sending has started.",
        "rejected" => "Rejected. The requester has been emailed.",
        _ => return None,
    })
}

pub async fn show<P: Ports>(p: &P, id: &str, query: Option<&str>) -> Response<Body> {
    let request = match p.requests().get(id).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return html(StatusCode::NOT_FOUND, message("No such request", "bad", "There is no such request.", ""));
        }
        Err(e) => {
            tracing::error!(request_id = id, error = %Chain(&e), "reading the request failed");
            return internal("The request could not be read.");
        }
    };
    let jobs = match request.batch.as_ref().and_then(|b| b.etag.as_ref().map(|e| (b, e))) {
        Some((b, etag)) => match p.jobs().find_by_object(&b.bucket, &b.key, etag).await {
            Ok(jobs) => Some(with_shard_progress(p.jobs(), id, jobs).await),
            Err(e) => {
                tracing::warn!(request_id = id, error = %Chain(&e), "looking up the send job failed");
                None
            }
        },
        None => None,
    };
    html(StatusCode::OK, pages::status::render(&request, p.now(), jobs.as_deref(), notice(query)))
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
