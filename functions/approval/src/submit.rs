//! `GET /requests/new` and `POST /requests`: check everything, store the
//! request, email the requester and each approver.

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Request, Response};
use shared::approval::{Action, ApprovalRequest, AudienceCounts, AudienceSource, Link, RequestPut, Status};
use shared::mail::SendMail;
use shared::objects::ObjectRead;
use shared::render::Renderers;

use crate::audience::{self, AudienceError, Source};
use crate::deps::Ports;
use crate::form::{self, AudienceInput, FieldErrors, FormInput};
use crate::html::{esc, message};
use crate::identity::{Caller, forbidden};
use crate::mails::{self, Links};
use crate::pages;
use crate::preview;
use crate::reply::{body_bytes, html, see_other};
use crate::urls::Urls;
use shared::errors::Chain;

/// The page that says the caller may not request pushes (`REQUESTERS`).
fn not_a_requester<P: Ports>(p: &P, caller: &Caller) -> Option<Response<Body>> {
    if p.settings().requesters.allows(&caller.email) {
        return None;
    }
    tracing::warn!(caller = %caller.email, "refused a requester not in REQUESTERS");
    Some(forbidden(
        "Not a requester",
        &format!(
            "You are signed in as {}, who may not request pushes. Ask an administrator to add you to REQUESTERS. \
             Nothing was sent.",
            caller.email
        ),
    ))
}

pub fn new_form<P: Ports>(p: &P, urls: &Urls, caller: &Caller) -> Response<Body> {
    if let Some(page) = not_a_requester(p, caller) {
        return page;
    }
    html(StatusCode::OK, pages::form::render(&urls.base, caller, &FormInput::default(), &FieldErrors::new()))
}

fn invalid(urls: &Urls, caller: &Caller, input: &FormInput, errors: &FieldErrors) -> Response<Body> {
    html(StatusCode::UNPROCESSABLE_ENTITY, pages::form::render(&urls.base, caller, input, errors))
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

fn not_saved() -> Response<Body> {
    html(
        StatusCode::INTERNAL_SERVER_ERROR,
        message("Not saved", "bad", "The request could not be saved. Nothing was sent; please try again.", ""),
    )
}

pub async fn submit<P: Ports>(p: &P, request: &Request, urls: &Urls, caller: &Caller) -> Response<Body> {
    if let Some(page) = not_a_requester(p, caller) {
        return page;
    }
    let settings = p.settings();
    let invalid = |input: &FormInput, errors: &FieldErrors| invalid(urls, caller, input, errors);
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let input = match form::read(content_type, body_bytes(request)) {
        Ok(input) => input,
        Err(e) => {
            return invalid(&FormInput::default(), &one("form", format!("The form could not be read: {e}.")));
        }
    };
    let checked = match form::check(&input, settings.max_upload_bytes) {
        Ok(c) => c,
        Err(errors) => return invalid(&input, &errors),
    };
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let header = checked.header(&format!("approval-{request_id}"));
    if let Err(e) = header.validate() {
        return invalid(&input, &one("body", e));
    }
    if let Err(e) = Renderers::new(&header, &settings.apns_topic) {
        return invalid(&input, &one("body", format!("{e}. Shorten the title, body or data.")));
    }
    let requester = caller.email.clone();
    let approvers: Vec<String> = settings.approvers.iter().filter(|a| **a != requester).cloned().collect();
    if approvers.is_empty() {
        return invalid(
            &input,
            &one("form", "No approver other than you is configured: nobody may approve your own request.".into()),
        );
    }

    let (audience_source, encoding, counted, inline) = match &checked.audience {
        AudienceInput::S3 { key, encoding } => {
            let info = match p.objects().head(&settings.bucket, key).await {
                Ok(info) => info,
                Err(e) => return invalid(&input, &one("audience_key", audience_message(&e.into()))),
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
    let counted = match counted {
        Ok(c) => c,
        Err(e) => return invalid(&input, &one(field, audience_message(&e))),
    };
    if counted.counts.valid_users == 0 {
        return invalid(
            &input,
            &one(field, format!("The audience has no valid users ({} entries read).", counted.counts.entries)),
        );
    }
    // Inline devices skip the devices table (opt-outs recorded there
    // included): sending to them must be a decision, not an accident.
    if counted.with_devices > 0 && !checked.own_devices {
        return invalid(
            &input,
            &one(
                "own_devices",
                format!(
                    "{} of the audience's {} users carry their own devices (device tokens in the file). Tick \
                     \"This audience carries its own devices\" if they should be sent to those tokens.",
                    counted.with_devices, counted.counts.valid_users
                ),
            ),
        );
    }

    let samples = counted.samples.iter().map(|u| preview::sample(&header, u)).collect();
    let now = p.now();
    let record = ApprovalRequest {
        request_id: request_id.clone(),
        status: Status::Pending,
        requester,
        created_at: now,
        expires_at: now + settings.link_ttl_secs,
        header,
        audience: audience_source,
        encoding,
        users_start: counted.start.users_start,
        first_line: counted.start.first_line,
        counts: AudienceCounts { with_devices: counted.with_devices, ..counted.counts.into() },
        samples,
        own_devices: checked.own_devices,
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
        Ok(false) => {
            tracing::error!(request_id, "storing the request failed: the id exists");
            return not_saved();
        }
        Err(e) => {
            tracing::error!(request_id, error = %Chain(&e), "storing the request failed");
            return not_saved();
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
    // The exact payloads of the first user (or of a user without vars, for
    // requests stored before samples were kept).
    let no_vars = serde_json::Map::new();
    let first_vars = r.samples.first().map_or(&no_vars, |s| &s.vars);
    let payloads = preview::payloads(&r.header, &settings.apns_topic, first_vars);
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
        let mail = mails::to_approver(r, &settings.mail_from, approver, &links, &payloads);
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
