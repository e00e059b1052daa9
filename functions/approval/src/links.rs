//! `GET` and `POST /requests/{id}/links/{token}`. The GET only checks the
//! link and shows a confirmation page; the POST acts.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use shared::approval::{Action, ApprovalRequest, AudienceSource, BatchRef, Link, RequestGet, apply, update};
use shared::mail::SendMail;
use shared::objects::{Created, ObjectRead, StreamedObject};

use crate::audience::{self, Source, Start};
use crate::decide::{Checked, check, command, internal, refused, test_users, update_failed};
use crate::deps::Ports;
use crate::identity::{self, forbidden};
use crate::mails;
use crate::pages;
use crate::reply::{body_bytes, html, see_other};
use crate::settings::ApproverSignIn;
use crate::test_send;
use crate::urls::Urls;
use shared::errors::Chain;

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
                p.settings().approver_sign_in == ApproverSignIn::Required,
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

/// With `APPROVER_SIGN_IN=required`, the link's holder must also be signed
/// in as the approver it was sent to: a forwarded or leaked email is then
/// not enough to decide.
fn sign_in_refusal<P: Ports>(p: &P, request: &Request, link: &Link) -> Option<Response<Body>> {
    if p.settings().approver_sign_in == ApproverSignIn::Optional {
        return None;
    }
    let Some(caller) = identity::caller(request) else {
        return Some(identity::unauthorized());
    };
    if caller.email != link.approver {
        tracing::warn!(request_id = %link.request_id, caller = %caller.email, "refused a link used by someone else");
        return Some(forbidden(
            "Not your link",
            &format!(
                "This link was sent to {}, but you are signed in as {}. Nothing was changed.",
                link.approver, caller.email
            ),
        ));
    }
    None
}

pub async fn act<P: Ports>(p: &P, request: &Request, id: &str, token: &str, urls: &Urls) -> Response<Body> {
    let checked = match check(p, id, token, urls).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    if let Some(page) = sign_in_refusal(p, request, &checked.link) {
        return page;
    }
    match checked.link.action {
        Action::Approve => approve(p, checked, urls).await,
        Action::Reject => reject(p, checked, reason_of(request), urls).await,
        Action::Test => test_send::test(p, checked, urls).await,
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
    // Streamed as it is read (a multipart upload nobody sees until it
    // completes), and completed create-only: a retried approval never
    // replaces the file, nor raises its event twice.
    let mut file = StreamedObject::new(p.objects(), &settings.bucket, &key, "application/x-ndjson");
    let written = match audience::batch_file(&source, approved.encoding, start, &header, &mut file).await {
        Ok(counts) => {
            tracing::info!(request_id = %id, key, users = counts.valid_users, bytes = file.size(), "writing the batch file");
            file.finish_new().await
        }
        Err(e) => {
            file.abort().await;
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
