//! `POST /requests/{id}/stop`: the status page's Stop button. The request's
//! requester or one of its approvers asks send-batch to stop the job its
//! batch file started, as `pushbatch stop` does, in their own name.
//!
//! Cross-site request forgery: in a deployment the browser reaches the API
//! through an identity-aware proxy that attaches the bearer token to every
//! request it forwards, typically from a session cookie of its own. A form
//! on another site that posts here would therefore arrive authenticated.
//! The pages run no script, so they cannot echo a token in a header, and a
//! hidden-field token would need server-side sessions the function does not
//! have. Instead the POST must come from a page of this site: browsers set
//! `Sec-Fetch-Site` (which pages cannot forge) on every request, and when an
//! older browser does not, its `Origin` must be the site's own. A request
//! with neither is refused: failing closed costs an old browser the button,
//! never a stranger a stopped send. The caller must also be signed in and
//! have a part in the request.

use lambda_http::http::{HeaderMap, StatusCode};
use lambda_http::{Body, Request, Response};

use crate::control::{SendControl, StopAnswer, StopRequest};
use crate::decide::internal;
use crate::deps::Ports;
use crate::html::{esc, message};
use crate::identity::{Caller, forbidden};
use crate::reply::{html, see_other};
use crate::status::{jobs_of, load, may_stop};
use crate::urls::Urls;
use shared::errors::Chain;

/// Whether the POST came from a page of this site (see the module's note).
pub fn same_origin(headers: &HeaderMap, origin: &str) -> Result<(), String> {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("(not text)").to_owned());
    match (header("sec-fetch-site"), header("origin")) {
        (Some(site), _) if site == "same-origin" => Ok(()),
        (Some(site), _) => Err(format!("the button was pressed on a page of another site (Sec-Fetch-Site: {site})")),
        (None, Some(o)) if o == origin => Ok(()),
        (None, Some(o)) => Err(format!("the button was pressed on a page of another site (Origin: {o})")),
        (None, None) => Err("the browser did not say which site the button was pressed on".into()),
    }
}

fn refused(status: StatusCode, title: &str, text: &str, urls: &Urls, id: &str) -> Response<Body> {
    let back = format!("<p><a href=\"{}\">Back to the request</a></p>", esc(&urls.status(id)));
    html(status, message(title, "bad", text, &back))
}

pub async fn stop<P: Ports>(p: &P, request: &Request, id: &str, caller: &Caller, urls: &Urls) -> Response<Body> {
    if let Err(why) = same_origin(request.headers(), urls.origin()) {
        tracing::warn!(request_id = id, caller = %caller.email, why, "refused a stop from another site");
        return forbidden("Not stopped", &format!("Nothing was stopped: {why}. Use the button on the request's page."));
    }
    let r = match load(p, id, caller).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    if !may_stop(&r, &caller.email) {
        return forbidden(
            "Not stopped",
            &format!(
                "You are signed in as {}: only the requester and the request's approvers may stop its send. \
                 Nothing was stopped.",
                caller.email
            ),
        );
    }
    if r.batch.is_none() {
        let text = "Nothing is being sent for this request, so there is nothing to stop.";
        return refused(StatusCode::CONFLICT, "Nothing to stop", text, urls, id);
    }
    let Some(jobs) = jobs_of(p, &r).await else {
        return internal("The send job could not be looked up; nothing was stopped.");
    };
    let live: Vec<&str> = jobs.iter().filter(|j| !j.status.is_terminal()).map(|j| j.job_id.as_str()).collect();
    if live.is_empty() {
        let text = match jobs.first() {
            Some(job) => format!("The send has already ended ({}): there is nothing to stop.", job.status.as_str()),
            None => "The send has not started yet: try again in a moment.".to_owned(),
        };
        return refused(StatusCode::CONFLICT, "Nothing to stop", &text, urls, id);
    }
    let function = &p.settings().send_batch_function;
    let mut refusals = Vec::new();
    for job_id in &live {
        match p.controls().stop(function, &StopRequest::new(job_id, &caller.email)).await {
            Ok(StopAnswer::Applied { state, status }) => {
                tracing::info!(request_id = id, job_id, by = %caller.email, state, status, "stop sent");
            }
            Ok(StopAnswer::Refused(reason)) => {
                tracing::warn!(request_id = id, job_id, reason, "send-batch refused the stop");
                refusals.push(reason);
            }
            Err(e) => {
                tracing::error!(request_id = id, job_id, error = %Chain(&e), "sending the stop failed");
                return html(
                    StatusCode::BAD_GATEWAY,
                    message(
                        "Not stopped",
                        "bad",
                        &format!(
                            "send-batch could not be asked to stop job {job_id}, so it may still be sending. Try \
                             again, or run `pushbatch stop {job_id}`."
                        ),
                        "",
                    ),
                );
            }
        }
    }
    if refusals.len() == live.len() {
        let text = format!("send-batch did not stop the send: {}.", refusals.join("; "));
        return refused(StatusCode::CONFLICT, "Not stopped", &text, urls, id);
    }
    see_other(&format!("{}?notice=stopping", urls.status(id)))
}

#[cfg(test)]
mod tests {
    use lambda_http::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (lambda_http::http::HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn only_pages_of_this_site_may_press_stop() {
        let site = "https://push.example.com";
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")]), site).is_ok());
        assert!(same_origin(&headers(&[("origin", "https://push.example.com")]), site).is_ok());
        for bad in [
            headers(&[("sec-fetch-site", "cross-site"), ("origin", "https://push.example.com")]),
            headers(&[("sec-fetch-site", "same-site")]),
            headers(&[("sec-fetch-site", "none")]),
            headers(&[("origin", "https://evil.example.net")]),
            headers(&[("origin", "null")]),
            headers(&[]),
        ] {
            assert!(same_origin(&bad, site).is_err(), "{bad:?}");
        }
    }
}
