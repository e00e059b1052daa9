//! The approval function on a local stack, reached as people reach it:
//! through the gateway, signed in at the local issuer as one of
//! local/users.json's staff (client `pushbatch-console`); the emails
//! aws-ses-v2-local stored, and the links inside them.

use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;

use crate::gateway::{LocalUsers, sign_in};
use crate::{Stack, StackOptions};

/// local/users.json's staff, as stack.env's approval defaults use them.
pub const REQUESTER: &str = "requester@example.com";
/// First of APPROVERS; its test sends go to u-000001.
pub const APPROVER: &str = "approver@example.com";
pub const APPROVER2: &str = "approver2@example.com";
/// A device-app user: may sign in, has no part in pushes.
pub const OUTSIDER: &str = "app-user-1@example.net";
/// The app client whose tokens the approval API accepts.
pub const CONSOLE_CLIENT: &str = "pushbatch-console";
/// The first call through the gateway may start a function on a busy
/// 2-core machine; the gateway waits as long (API Gateway's own limit,
/// 30 s, is its default).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// Stack options for the approval flow: the stack's own approval defaults
/// (approvers, requesters, link key, PUBLIC_BASE_URL at the gateway), one
/// user a batch so a send takes long enough to be stopped, and two
/// instances of each function under watch so that a control invoke of
/// send-batch runs beside the link it stops.
pub fn stack_options() -> StackOptions {
    let mut opts = StackOptions::default().fn_env("TEST_MIN_INTERVAL_SECONDS", 0).fn_env("BATCH_SIZE", 1);
    opts.watch_args.push("--concurrency=2".into());
    opts.plane_args.push(format!("--gateway-timeout-seconds={}", CALL_TIMEOUT.as_secs()));
    opts
}

/// An ID token for one of local/users.json's users, by email, for the
/// approval pages' client.
pub async fn id_token(stack: &Stack, email: &str) -> anyhow::Result<String> {
    let users = LocalUsers::of(stack)?;
    let user = users.users.iter().find(|u| u.email == email).with_context(|| format!("no local user {email}"))?;
    let tokens = sign_in(stack, user, CONSOLE_CLIENT).await?;
    tokens["id_token"].as_str().map(str::to_owned).with_context(|| format!("no id_token in {tokens}"))
}

/// One email as aws-ses-v2-local stores it.
#[derive(Debug, Clone)]
pub struct StoredMail {
    pub to: Vec<String>,
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// Every email aws-ses-v2-local has received (`GET /store`).
pub async fn stored_mail(stack: &Stack) -> anyhow::Result<Vec<StoredMail>> {
    let url = format!("{}/store", stack.var("AWS_ENDPOINT_URL_SESV2")?);
    let store: Value = stack.http().get(&url).send().await?.error_for_status()?.json().await?;
    let emails = store["emails"].as_array().with_context(|| format!("{url}: no emails array"))?;
    Ok(emails
        .iter()
        .map(|e| StoredMail {
            to: e["destination"]["to"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            subject: e["subject"].as_str().unwrap_or_default().to_owned(),
            html: e["body"]["html"].as_str().unwrap_or_default().to_owned(),
            text: e["body"]["text"].as_str().unwrap_or_default().to_owned(),
        })
        .collect())
}

/// Waits for an email to `to` whose subject contains `subject`.
pub async fn mail_to(stack: &Stack, to: &str, subject: &str) -> anyhow::Result<StoredMail> {
    crate::eventually(&format!("an email to {to} about {subject:?}"), Duration::from_secs(30), || async {
        let all = stored_mail(stack).await?;
        Ok(all.into_iter().rev().find(|m| m.to.iter().any(|t| t == to) && m.subject.contains(subject)))
    })
    .await
}

/// The `href` of the link whose text is `text` in an email's HTML.
pub fn link_in(html: &str, text: &str) -> Option<String> {
    let end = html.find(&format!(">{text}</a>"))?;
    let start = html[..end].rfind("href=\"")? + 6;
    let href = &html[start..end];
    Some(href[..href.find('"')?].replace("&amp;", "&"))
}

/// The request id in a status URL (`…/requests/<id>…`).
pub fn request_id_in(url: &str) -> Option<String> {
    let after = url.split("/requests/").nth(1)?;
    let id: String = after.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    (id.len() == 32).then_some(id)
}
