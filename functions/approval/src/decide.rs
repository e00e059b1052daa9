//! What every action on a link shares: checking the link and the request
//! (nothing here writes), the refusal pages, and the command an action
//! applies to the request.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use shared::approval::{
    Action, ApprovalRequest, Command, Link, LinkError, Refusal, RequestGet, Status, TestLimit, UpdateError, apply,
};

use crate::deps::Ports;
use crate::html::{esc, message};
use crate::reply::html;
use crate::urls::Urls;
use shared::errors::Chain;

/// A link that checked out, and the request as it is now.
pub struct Checked {
    pub link: Link,
    pub request: ApprovalRequest,
    /// The approving link, pressed again after its batch file failed.
    pub resume: bool,
}

pub fn refused(status: StatusCode, title: &str, text: &str, urls: &Urls, request_id: Option<&str>) -> Response<Body> {
    let extra = request_id
        .map(|id| format!("<p><a href=\"{}\">See the request's status</a></p>", esc(&urls.status(id))))
        .unwrap_or_default();
    html(status, message(title, "bad", text, &extra))
}

pub fn refusal_page(r: &Refusal, urls: &Urls, id: &str) -> Response<Body> {
    if matches!(r, Refusal::Expired) {
        shared::metrics::approval::expired_link();
    }
    let (status, title) = match r {
        Refusal::LinkUsed => (StatusCode::CONFLICT, "Link already used"),
        Refusal::NotPending(Status::Approved) => (StatusCode::CONFLICT, "Already approved"),
        Refusal::NotPending(_) => (StatusCode::CONFLICT, "Already rejected"),
        Refusal::Expired => (StatusCode::GONE, "Request expired"),
        Refusal::NotAnApprover => (StatusCode::FORBIDDEN, "Not an approver"),
        Refusal::OwnRequest => (StatusCode::FORBIDDEN, "Your own request"),
        Refusal::TestLimit(_) | Refusal::TooSoon(_) => (StatusCode::TOO_MANY_REQUESTS, "Too many tests"),
    };
    let text = format!("{}. Nothing was changed.", capitalize(&r.to_string()));
    refused(status, title, &text, urls, Some(id))
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

pub fn internal(what: &str) -> Response<Body> {
    html(
        StatusCode::INTERNAL_SERVER_ERROR,
        message("Something went wrong", "bad", &format!("{what} Please try again in a minute."), ""),
    )
}

pub fn command<P: Ports>(p: &P, link: &Link, reason: Option<String>) -> Command {
    let s = p.settings();
    Command {
        action: link.action,
        approver: link.approver.clone(),
        nonce: link.nonce.clone(),
        at: p.now(),
        reason,
        test_limit: TestLimit {
            max_per_approver: s.test_sends_per_approver,
            min_interval_secs: s.test_min_interval_secs,
        },
    }
}

/// Everything a GET and a POST both check, in the order that gives the
/// most useful answer; nothing here writes.
pub async fn check<P: Ports>(p: &P, id: &str, token: &str, urls: &Urls) -> Result<Checked, Response<Body>> {
    let now = p.now();
    let link = match p.signer().verify_at(token, now) {
        Ok(link) => link,
        Err(LinkError::Expired) => {
            shared::metrics::approval::expired_link();
            return Err(refused(
                StatusCode::GONE,
                "Link expired",
                "This link has expired. Nothing was changed.",
                urls,
                Some(id),
            ));
        }
        Err(e) => {
            tracing::warn!(request_id = id, error = %Chain(&e), "refused a link");
            return Err(refused(
                StatusCode::FORBIDDEN,
                "Invalid link",
                "This link is not valid (it may have been altered or copied incompletely). Nothing was changed.",
                urls,
                None,
            ));
        }
    };
    if link.request_id != id {
        tracing::warn!(request_id = id, link_request = %link.request_id, "refused a link for another request");
        return Err(refused(
            StatusCode::FORBIDDEN,
            "Invalid link",
            "This link belongs to another request. Nothing was changed.",
            urls,
            None,
        ));
    }
    if !p.settings().approvers.contains(&link.approver) {
        return Err(refusal_page(&Refusal::NotAnApprover, urls, id));
    }
    let request = match p.requests().get(id).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Err(refused(StatusCode::NOT_FOUND, "No such request", "There is no such request.", urls, None));
        }
        Err(e) => {
            tracing::error!(request_id = id, error = %Chain(&e), "reading the request failed");
            return Err(internal("The request could not be read."));
        }
    };
    let resume = link.action == Action::Approve
        && request.status == Status::Approved
        && request.approved_link.as_deref() == Some(link.nonce.as_str())
        && request.batch.is_none();
    if !resume && let Err(refusal) = apply(&request, &command(p, &link, None)) {
        return Err(refusal_page(&refusal, urls, id));
    }
    if link.action == Action::Test && test_users(p, &link.approver).is_empty() {
        return Err(refused(
            StatusCode::CONFLICT,
            "No test users",
            "No test users are configured for you (APPROVER_USERS), so a test cannot be sent.",
            urls,
            Some(id),
        ));
    }
    Ok(Checked { link, request, resume })
}

pub fn test_users<'a, P: Ports>(p: &'a P, approver: &str) -> &'a [String] {
    p.settings().approver_users.get(approver).map(Vec::as_slice).unwrap_or_default()
}

pub fn update_failed(e: UpdateError, urls: &Urls, id: &str) -> Response<Body> {
    match e {
        UpdateError::Refused(r) => refusal_page(&r, urls, id),
        UpdateError::NotFound(_) => {
            refused(StatusCode::NOT_FOUND, "No such request", "There is no such request.", urls, None)
        }
        other => {
            tracing::error!(request_id = id, error = %Chain(&other), "updating the request failed");
            internal("The request could not be updated; nothing was sent.")
        }
    }
}
