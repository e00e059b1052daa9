//! The approval function on a local stack: its settings, the emails
//! aws-ses-v2-local stored, and the links inside them.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;

use crate::{Stack, StackOptions};

pub const APPROVER_ANN: &str = "ann@example.com";
pub const APPROVER_BOB: &str = "bob@example.com";
pub const REQUESTER: &str = "mia@example.com";
pub const MAIL_FROM: &str = "push@example.com";
/// Ann's test sends go to this user.
pub const ANN_TEST_USER: &str = "approver-ann";

/// Stack options that configure the approval function; the link key is
/// written to `key_dir`.
pub fn stack_options(key_dir: &Path) -> anyhow::Result<StackOptions> {
    let key_file = key_dir.join("link-key");
    std::fs::write(&key_file, "local-approval-link-key-0123456789abcdef0123456789abcdef\n")?;
    Ok(StackOptions::default()
        .fn_env("APPROVERS", format!("{APPROVER_ANN},{APPROVER_BOB}"))
        .fn_env("REQUESTERS", "@example.com")
        .fn_env("APPROVER_USERS", format!("{{\"{APPROVER_ANN}\": [\"{ANN_TEST_USER}\"]}}"))
        .fn_env("MAIL_FROM", MAIL_FROM)
        // The watch port is chosen when the stack starts: take it from Host.
        .fn_env("PUBLIC_BASE_URL", "http://{host}/lambda-url/approval")
        .fn_env("LINK_KEY_FILE", key_file.display())
        .fn_env("TEST_MIN_INTERVAL_SECONDS", 0))
}

/// The function's base URL under `cargo lambda watch`.
pub fn base_url(stack: &Stack) -> anyhow::Result<String> {
    Ok(format!("{}/lambda-url/approval", stack.var("LAMBDA_WATCH_URL")?))
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
