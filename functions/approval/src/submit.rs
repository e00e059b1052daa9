//! `GET /requests/new` and `POST /requests`: check everything, store the
//! request, email the requester and each approver.

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use shared::approval::{Action, ApprovalRequest, AudienceSource, Link, RequestPut, Status};
use shared::mail::SendMail;
use shared::objects::ObjectRead;
use shared::render::Renderer;

use crate::audience::{self, AudienceError, Source};
use crate::deps::Ports;
use crate::form::{self, AudienceInput, FieldErrors, FormInput};
use crate::html::{esc, message};
use crate::mails::{self, Links};
use crate::pages;
use crate::reply::{body_bytes, html, see_other};
use crate::urls::Urls;
use shared::errors::Chain;

pub fn new_form(urls: &Urls) -> Response<Body> {
    html(StatusCode::OK, pages::form::render(&urls.base, &FormInput::default(), &FieldErrors::new()))
}

fn invalid(urls: &Urls, input: &FormInput, errors: &FieldErrors) -> Response<Body> {
    html(StatusCode::UNPROCESSABLE_ENTITY, pages::form::render(&urls.base, input, errors))
}

fn one(field: &'static str, message: String) -> FieldErrors {
    FieldErrors::from([(field, message)])
}

fn audience_message(e: &AudienceError) -> String {
    match e {
        AudienceError::NotFound => "There is no file at this key in the bucket.".into(),
        AudienceError::Storage(_) => "The bucket could not be read; try again.".into(),
        other => format!("The file is not a valid audience: {other}."),
    }
}

pub async fn submit<P: Ports>(p: &P, request: &Request, urls: &Urls) -> Response<Body> {
    let settings = p.settings();
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let input = match form::read(content_type, body_bytes(request)) {
        Ok(input) => input,
        Err(e) => {
            return invalid(urls, &FormInput::default(), &one("form", format!("The form could not be read: {e}.")));
        }
    };
    let checked = match form::check(&input, &settings.requesters, settings.max_upload_bytes) {
        Ok(c) => c,
        Err(errors) => return invalid(urls, &input, &errors),
    };
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let header = checked.header(&format!("approval-{request_id}"));
    if let Err(e) = header.validate() {
        return invalid(urls, &input, &one("body", e));
    }
    if let Err(e) = Renderer::new(&header, &settings.apns_topic) {
        return invalid(urls, &input, &one("body", format!("{e}. Shorten the title, body or data.")));
    }
    let approvers: Vec<String> = settings.approvers.iter().filter(|a| **a != checked.requester).cloned().collect();
    if approvers.is_empty() {
        return invalid(
            urls,
            &input,
            &one("requester", "No approver other than you is configured: nobody may approve your own request.".into()),
        );
    }

    let (audience_source, encoding, counted, inline) = match &checked.audience {
        AudienceInput::S3 { key, encoding } => {
            let info = match p.objects().head(&settings.bucket, key).await {
                Ok(info) => info,
                Err(e) => return invalid(urls, &input, &one("audience_key", audience_message(&e.into()))),
            };
            let source = Source::S3 { objects: p.objects(), bucket: &settings.bucket, key, etag: &info.etag };
            (
                AudienceSource::S3 { key: key.clone(), etag: info.etag.clone() },
                *encoding,
                audience::count(&source, *encoding).await,
                None,
            )
        }
        AudienceInput::Upload { file_name, encoding, bytes } => {
            let bytes = bytes::Bytes::from(bytes.clone());
            let source = Source::<P::Objects>::Memory(bytes.clone());
            (
                AudienceSource::Inline { file_name: file_name.clone() },
                *encoding,
                audience::count(&source, *encoding).await,
                Some(bytes),
            )
        }
    };
    let field = if inline.is_some() { "audience_file" } else { "audience_key" };
    let (start, counts) = match counted {
        Ok(c) => c,
        Err(e) => return invalid(urls, &input, &one(field, audience_message(&e))),
    };
    if counts.valid_users == 0 {
        return invalid(
            urls,
            &input,
            &one(field, format!("The audience has no valid users ({} entries read).", counts.entries)),
        );
    }

    let now = p.now();
    let record = ApprovalRequest {
        request_id: request_id.clone(),
        status: Status::Pending,
        requester: checked.requester.clone(),
        created_at: now,
        expires_at: now + settings.link_ttl_secs,
        header,
        audience: audience_source,
        encoding,
        users_start: start.users_start,
        first_line: start.first_line,
        counts: counts.into(),
        approvers: approvers.clone(),
        decided_by: None,
        decided_at: None,
        reason: None,
        approved_link: None,
        used_links: Default::default(),
        tests: Default::default(),
        batch: None,
        version: 1,
    };
    match p.requests().create(&record, inline).await {
        Ok(true) => {}
        Ok(false) | Err(_) => {
            tracing::error!(request_id, "storing the request failed");
            return html(
                StatusCode::INTERNAL_SERVER_ERROR,
                message("Not saved", "bad", "The request could not be saved. Nothing was sent; please try again.", ""),
            );
        }
    }
    tracing::info!(request_id, requester = %record.requester, users = record.counts.valid_users, "request stored");
    shared::metrics::approval::submitted();

    let failures = email_everyone(p, &record, urls).await;
    if !failures.is_empty() {
        let list: String = failures.iter().map(|f| format!("<li>{}</li>", esc(f))).collect();
        return html(
            StatusCode::BAD_GATEWAY,
            message(
                "Saved, but not everyone was emailed",
                "bad",
                &format!("Request {request_id} was saved, but these emails could not be sent:"),
                &format!("<ul>{list}</ul><p><a href=\"{}\">Request status</a></p>", esc(&urls.status(&request_id))),
            ),
        );
    }
    see_other(&format!("{}?notice=submitted", urls.status(&request_id)))
}

/// Emails each approver their own signed links, then the requester; returns
/// the addresses that failed.
async fn email_everyone<P: Ports>(p: &P, r: &ApprovalRequest, urls: &Urls) -> Vec<String> {
    let settings = p.settings();
    let payloads = crate::preview::payloads(&r.header, &settings.apns_topic);
    let status = urls.status(&r.request_id);
    let mut failures = Vec::new();
    for approver in &r.approvers {
        let link = |action| {
            urls.link(&r.request_id, &p.signer().sign(&Link::new(&r.request_id, action, approver, r.expires_at)))
        };
        let has_test_users = settings.approver_users.get(approver).is_some_and(|u| !u.is_empty());
        let links = Links {
            approve: link(Action::Approve),
            reject: link(Action::Reject),
            test: has_test_users.then(|| link(Action::Test)),
            status: status.clone(),
        };
        let mail = mails::to_approver(r, &settings.mail_from, approver, &links, payloads.as_ref());
        if let Err(e) = p.mail().send(&mail).await {
            tracing::error!(request_id = %r.request_id, approver, error = %Chain(&e), "emailing an approver failed");
            failures.push(approver.clone());
        }
    }
    if let Err(e) = p.mail().send(&mails::submitted(r, &settings.mail_from, &status)).await {
        tracing::error!(request_id = %r.request_id, error = %Chain(&e), "emailing the requester failed");
        failures.push(r.requester.clone());
    }
    failures
}
