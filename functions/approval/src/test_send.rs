//! An approver's test send: the request's message, to the approver's own
//! users only, rate-limited; it decides nothing.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use shared::approval::{Action, Link, apply, update};
use shared::objects::ObjectCreate;

use crate::audience;
use crate::decide::{Checked, command, internal, test_users, update_failed};
use crate::deps::Ports;
use crate::html::{esc, message};
use crate::reply::html;
use crate::urls::Urls;
use shared::errors::Chain;

/// Keys carry the approver's address: keep it to characters any tool
/// handles without quoting.
fn key_safe(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect()
}

pub async fn test<P: Ports>(p: &P, c: Checked, urls: &Urls) -> Response<Body> {
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
