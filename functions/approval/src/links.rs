//! `GET` and `POST /requests/{id}/links/{token}`. The GET only checks the
//! link and shows a confirmation page; the POST acts.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::approval::{
    Action, ApprovalRequest, AudienceSource, BatchRef, Command, Link, LinkError, Refusal, RequestGet, Status,
    TestLimit, UpdateError, apply, update,
};
use shared::mail::SendMail;
use shared::objects::{Created, ObjectCreate, ObjectRead};

use crate::audience::{self, Source, Start};
use crate::deps::Ports;
use crate::html::{esc, message};
use crate::mails;
use crate::pages;
use crate::reply::{body_bytes, html, see_other};
use crate::urls::Urls;
use shared::errors::Chain;

/// A link that checked out, and the request as it is now.
struct Checked {
    link: Link,
    request: ApprovalRequest,
    /// The approving link, pressed again after its batch file failed.
    resume: bool,
}

fn refused(status: StatusCode, title: &str, text: &str, urls: &Urls, request_id: Option<&str>) -> Response<Body> {
    let extra = request_id
        .map(|id| format!("<p><a href=\"{}\">See the request's status</a></p>", esc(&urls.status(id))))
        .unwrap_or_default();
    html(status, message(title, "bad", text, &extra))
}

fn refusal_page(r: &Refusal, urls: &Urls, id: &str) -> Response<Body> {
    if matches!(r, Refusal::Expired) {
        shared::metrics::approval::expired_link();
    }
    let (status, title) = match r {
        Refusal::LinkUsed => (StatusCode::CONFLICT, "Link already used"),
        Refusal::NotPending(Status::Approved) => (StatusCode::CONFLICT, "Already approved"),
        Refusal::NotPending(_) => (StatusCode::CONFLICT, "Already rejected"),
        Refusal::Expired => (StatusCode::GONE, "Request expired"),
        Refusal::NotAnApprover => (StatusCode::FORBIDDEN, "Not an approver"),
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

fn command<P: Ports>(p: &P, link: &Link, reason: Option<String>) -> Command {
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
async fn check<P: Ports>(p: &P, id: &str, token: &str, urls: &Urls) -> Result<Checked, Response<Body>> {
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

fn test_users<'a, P: Ports>(p: &'a P, approver: &str) -> &'a [String] {
    p.settings().approver_users.get(approver).map(Vec::as_slice).unwrap_or_default()
}

pub async fn confirm<P: Ports>(p: &P, id: &str, token: &str, urls: &Urls) -> Response<Body> {
    match check(p, id, token, urls).await {
        Ok(c) => html(
            StatusCode::OK,
            pages::confirm::render(
                &c.request,
                c.link.action,
                &c.link.approver,
                &urls.link(id, token),
                test_users(p, &c.link.approver),
            ),
        ),
        Err(page) => page,
    }
}

fn reason_of(request: &Request) -> Option<String> {
    form_urlencoded::parse(body_bytes(request))
        .find(|(k, _)| k == "reason")
        .map(|(_, v)| v.trim().chars().take(1000).collect::<String>())
        .filter(|v| !v.is_empty())
}

pub async fn act<P: Ports>(p: &P, request: &Request, id: &str, token: &str, urls: &Urls) -> Response<Body> {
    let checked = match check(p, id, token, urls).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    match checked.link.action {
        Action::Approve => approve(p, checked, urls).await,
        Action::Reject => reject(p, checked, reason_of(request), urls).await,
        Action::Test => test(p, checked, urls).await,
    }
}

fn update_failed(e: UpdateError, urls: &Urls, id: &str) -> Response<Body> {
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

/// The audience as it was counted; an S3 file that changed since is refused
/// (approvers approve what they were shown).
async fn audience_source<'a, P: Ports>(p: &'a P, r: &'a ApprovalRequest) -> Result<Source<'a, P::Objects>, String> {
    let bucket = &p.settings().bucket;
    match &r.audience {
        AudienceSource::S3 { key, etag } => match p.objects().head(bucket, key).await {
            Ok(info) if info.etag == *etag => Ok(Source::S3 { objects: p.objects(), bucket, key, etag }),
            Ok(_) => Err(format!("The audience file {key} changed after the request was made.")),
            Err(e) => Err(format!("The audience file {key} cannot be read: {e}.")),
        },
        AudienceSource::Inline { .. } => match p.requests().audience(&r.request_id).await {
            Ok(Some(bytes)) => Ok(Source::Memory(bytes)),
            Ok(None) => Err("The uploaded audience file is missing from the request.".into()),
            Err(e) => Err(format!("The uploaded audience file cannot be read: {e}.")),
        },
    }
}

pub fn batch_key(request_id: &str) -> String {
    format!("batches/approval/{request_id}.jsonl")
}

async fn approve<P: Ports>(p: &P, c: Checked, urls: &Urls) -> Response<Body> {
    let id = c.request.request_id.clone();
    // Check the audience before deciding, so a changed file never leaves an
    // approved request that cannot be sent.
    let source = match audience_source(p, &c.request).await {
        Ok(s) => s,
        Err(why) => {
            return refused(
                StatusCode::CONFLICT,
                "Cannot approve",
                &format!("{why} Nothing was changed; ask for a new request."),
                urls,
                Some(&id),
            );
        }
    };
    let approved = if c.resume {
        c.request.clone()
    } else {
        let cmd = command(p, &c.link, None);
        match update(p.requests(), &id, |r| apply(r, &cmd)).await {
            Ok(r) => r,
            Err(e) => return update_failed(e, urls, &id),
        }
    };
    tracing::info!(request_id = %id, approver = %c.link.approver, "request approved");
    shared::metrics::approval::approved();

    let settings = p.settings();
    let key = batch_key(&id);
    let header = serde_json::to_value(&approved.header).expect("a header encodes as JSON");
    let start = Start { users_start: approved.users_start, first_line: approved.first_line };
    let written = match audience::batch_file(&source, approved.encoding, start, &header).await {
        Ok((bytes, counts)) => {
            tracing::info!(request_id = %id, key, users = counts.valid_users, bytes = bytes.len(), "writing the batch file");
            p.objects().create(&settings.bucket, &key, bytes, "application/x-ndjson").await
        }
        Err(e) => {
            tracing::error!(request_id = %id, error = %Chain(&e), "reading the audience failed");
            return internal(
                "The request is approved, but its batch file could not be written. Press Approve on the same link again to retry.",
            );
        }
    };
    let etag = match written {
        Ok(Created::New(info)) => Some(info.etag),
        // An earlier attempt wrote it; its event already started the job.
        Ok(Created::AlreadyExists) => None,
        Err(e) => {
            tracing::error!(request_id = %id, error = %Chain(&e), "writing the batch file failed");
            return internal(
                "The request is approved, but its batch file could not be written. Press Approve on the same link again to retry.",
            );
        }
    };
    let batch = BatchRef { bucket: settings.bucket.clone(), key, etag };
    let recorded = update(p.requests(), &id, |r| {
        let mut next = r.clone();
        next.batch = Some(batch.clone());
        Ok(next)
    })
    .await;
    let approved = match recorded {
        Ok(r) => r,
        Err(e) => {
            // The file is written and sending has started; only the status
            // page's progress is missing.
            tracing::error!(request_id = %id, error = %Chain(&e), "recording the batch file failed");
            approved
        }
    };
    let status_url = urls.status(&id);
    if let Err(e) = p.mail().send(&mails::decided(&approved, &settings.mail_from, &status_url)).await {
        tracing::error!(request_id = %id, error = %Chain(&e), "emailing the requester failed");
    }
    see_other(&format!("{status_url}?notice=approved"))
}

async fn reject<P: Ports>(p: &P, c: Checked, reason: Option<String>, urls: &Urls) -> Response<Body> {
    let id = c.request.request_id.clone();
    let cmd = command(p, &c.link, reason);
    let rejected = match update(p.requests(), &id, |r| apply(r, &cmd)).await {
        Ok(r) => r,
        Err(e) => return update_failed(e, urls, &id),
    };
    tracing::info!(request_id = %id, approver = %c.link.approver, "request rejected");
    shared::metrics::approval::rejected();
    let status_url = urls.status(&id);
    if let Err(e) = p.mail().send(&mails::decided(&rejected, &p.settings().mail_from, &status_url)).await {
        tracing::error!(request_id = %id, error = %Chain(&e), "emailing the requester failed");
    }
    see_other(&format!("{status_url}?notice=rejected"))
}

/// Keys carry the approver's address: keep it to characters any tool
/// handles without quoting.
fn key_safe(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect()
}

async fn test<P: Ports>(p: &P, c: Checked, urls: &Urls) -> Response<Body> {
    let id = c.request.request_id.clone();
    let approver = c.link.approver.clone();
    let cmd = command(p, &c.link, None);
    let updated = match update(p.requests(), &id, |r| apply(r, &cmd)).await {
        Ok(r) => r,
        Err(e) => return update_failed(e, urls, &id),
    };
    let n = updated.tests.get(&approver).map_or(1, |t| t.count);
    let key = format!("batches/approval/{id}/test-{}-{n}.jsonl", key_safe(&approver));
    let mut header = updated.header.clone();
    header.campaign = format!("approval-{id}-test");
    // An approver who muted the category must still see the test.
    header.category = None;
    let users = test_users(p, &approver);
    let body = audience::test_file(&serde_json::to_value(&header).expect("a header encodes as JSON"), users);
    if let Err(e) = p.objects().create(&p.settings().bucket, &key, body, "application/x-ndjson").await {
        tracing::error!(request_id = %id, error = %Chain(&e), "writing the test batch failed");
        return internal("The test could not be sent.");
    }
    tracing::info!(request_id = %id, approver, key, "test batch written");
    shared::metrics::approval::test_send();
    let max = p.settings().test_sends_per_approver;
    let again = if n < max {
        let token = p.signer().sign(&Link::new(&id, Action::Test, &approver, updated.expires_at));
        format!(
            "<form method=\"post\" action=\"{}\"><button type=\"submit\" class=\"secondary\">Send another test ({} left)</button></form>",
            esc(&urls.link(&id, &token)),
            max - n
        )
    } else {
        String::new()
    };
    html(
        StatusCode::OK,
        message(
            "Test sent",
            "good",
            &format!("Test {n} of {max} is on its way to your users: {}.", users.join(", ")),
            &format!("{again}<p><a href=\"{}\">See the request's status</a></p>", esc(&urls.status(&id))),
        ),
    )
}
