//! The page a link's GET shows: what the request is, and one POST button.
//! Mail scanners fetch links; only a person pressing the button acts.

use shared::approval::{Action, ApprovalRequest, AudienceSource};

use crate::html::{esc, page, time};
use crate::preview;

/// The request at a glance (shared by the confirm and status pages).
pub fn summary(r: &ApprovalRequest) -> String {
    let n = &r.header.notification;
    let audience = match &r.audience {
        AudienceSource::S3 { key, .. } => format!("<code>{}</code>", esc(key)),
        AudienceSource::Inline { file_name } => format!("uploaded file <code>{}</code>", esc(file_name)),
    };
    let invalid: u64 = r.counts.invalid.values().sum();
    let invalid = if invalid > 0 { format!(" ({invalid} invalid entries will be skipped)") } else { String::new() };
    let data = if n.data.is_empty() {
        "<dd>none</dd>".to_owned()
    } else {
        format!("<dd><pre>{}</pre></dd>", esc(&format!("{:#}", serde_json::Value::Object(n.data.clone()))))
    };
    format!(
        "<dl><dt>Title</dt><dd>{}</dd><dt>Body</dt><dd>{}</dd><dt>Data</dt>{data}\
         <dt>Category</dt><dd>{}</dd><dt>Users</dt><dd><strong>{}</strong>{invalid}</dd>\
         <dt>Audience</dt><dd>{audience}</dd><dt>Requested by</dt><dd>{}</dd><dt>Requested at</dt><dd>{}</dd></dl>\
         {}<h2>Preview: the first users, with their vars</h2>{}",
        esc(n.title.as_deref().unwrap_or("")),
        esc(n.body.as_deref().unwrap_or("")),
        esc(r.header.category.as_deref().unwrap_or("none")),
        r.counts.valid_users,
        esc(&r.requester),
        time(r.created_at),
        preview::inline_devices(r),
        preview::samples(r),
    )
}

/// The confirmation form for `action`, posting back to `post_url`.
pub fn render(
    r: &ApprovalRequest,
    action: Action,
    approver: &str,
    post_url: &str,
    test_users: &[String],
    sign_in_required: bool,
) -> String {
    let (heading, explain, button) = match action {
        Action::Approve => (
            "Approve this push?",
            format!(
                "Approving sends this notification to {} users. It cannot be undone.",
                r.counts.valid_users
            ),
            "<button type=\"submit\">Approve and send</button>".to_owned(),
        ),
        Action::Reject => (
            "Reject this push?",
            "The requester is emailed your reason.".to_owned(),
            "<label for=\"reason\">Reason (optional)</label><textarea id=\"reason\" name=\"reason\" maxlength=\"1000\"></textarea>\
             <button type=\"submit\" class=\"danger\">Reject</button>"
                .to_owned(),
        ),
        Action::Test => (
            "Send yourself a test?",
            format!("The notification goes only to your own users: {}.", esc(&test_users.join(", "))),
            "<button type=\"submit\" class=\"secondary\">Send me a test</button>".to_owned(),
        ),
    };
    let who = if sign_in_required {
        format!(
            "This link is for <strong>{}</strong>; pressing the button needs you signed in as that approver.",
            esc(approver)
        )
    } else {
        format!("This link was sent to <strong>{}</strong>: the button acts in their name.", esc(approver))
    };
    let body = format!(
        "<h1>{heading}</h1><p>{who}</p>\
         <div class=\"notice\"><p>{explain}</p></div>\
         <form method=\"post\" action=\"{}\">{button}</form><h2>The request</h2>{}",
        esc(post_url),
        summary(r)
    );
    page(heading, &body, None)
}
