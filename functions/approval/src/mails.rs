//! The emails: to approvers (preview, payload, three buttons), and to the
//! requester (submitted, decided). Inline styles only, as email clients
//! drop `<style>`; every outside value is escaped.

use shared::approval::{ApprovalRequest, Status};
use shared::mail::Mail;

use crate::html::{esc, time};
use crate::preview::{self, Payloads};

/// Subjects are one line: a CR or LF in a title must not start a header.
fn subject(s: &str) -> String {
    let one_line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut out: String = one_line.chars().take(120).collect();
    if one_line.chars().count() > 120 {
        out.push('…');
    }
    out
}

fn label(r: &ApprovalRequest) -> String {
    let n = &r.header.notification;
    n.title.clone().or_else(|| n.body.clone()).unwrap_or_default()
}

fn button(href: &str, text: &str, color: &str) -> String {
    format!(
        "<a href=\"{}\" style=\"display:inline-block;padding:10px 18px;margin:0 8px 8px 0;border-radius:6px;\
         background:{color};color:#ffffff;font:600 15px sans-serif;text-decoration:none\">{text}</a>",
        esc(href)
    )
}

fn wrap(inner: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"></head>\
         <body style=\"font:15px/1.45 sans-serif;color:#1b1b1b;max-width:640px\">{inner}</body></html>"
    )
}

pub struct Links {
    pub approve: String,
    pub reject: String,
    pub test: Option<String>,
    pub status: String,
}

pub fn to_approver(
    r: &ApprovalRequest,
    from: &str,
    approver: &str,
    links: &Links,
    payloads: Option<&Payloads>,
) -> Mail {
    let n = &r.header.notification;
    let data = format!("{:#}", serde_json::Value::Object(n.data.clone()));
    let invalid: u64 = r.counts.invalid.values().sum();
    let payloads_html = payloads
        .map(|p| {
            format!(
                "<h3 style=\"font-size:15px\">APNs payload</h3><pre style=\"background:#f4f4f4;padding:8px;white-space:pre-wrap\">{}</pre>\
                 <h3 style=\"font-size:15px\">FCM message</h3><pre style=\"background:#f4f4f4;padding:8px;white-space:pre-wrap\">{}</pre>",
                esc(&p.apns),
                esc(&p.fcm)
            )
        })
        .unwrap_or_default();
    let test_button = links.test.as_deref().map(|t| button(t, "Send me a test", "#555555")).unwrap_or_default();
    let html = wrap(&format!(
        "<h1 style=\"font-size:20px\">A push needs your approval</h1>\
         <p><strong>{requester}</strong> asks to send a notification to <strong id=\"user-count\">{users} users</strong>{invalid_note}.</p>\
         <p>{approve}{reject}{test_button}</p>\
         <h2 style=\"font-size:17px\">Preview</h2>{banners}\
         <h2 style=\"font-size:17px\">Data (JSON)</h2><pre style=\"background:#f4f4f4;padding:8px;white-space:pre-wrap\">{data}</pre>\
         {payloads_html}\
         <p style=\"color:#555\">Category: {category}. The links are yours alone, work once, and expire at {expires}. \
         Opening one only shows a confirmation page. <a href=\"{status}\">Request status</a>.</p>",
        requester = esc(&r.requester),
        users = r.counts.valid_users,
        invalid_note = if invalid > 0 { format!(" ({invalid} invalid entries skipped)") } else { String::new() },
        approve = button(&links.approve, "Approve", "#137333"),
        reject = button(&links.reject, "Reject", "#b00020"),
        banners = preview::banners(&r.header),
        data = esc(&data),
        category = esc(r.header.category.as_deref().unwrap_or("none")),
        expires = time(r.expires_at),
        status = esc(&links.status),
    ));
    let text = format!(
        "{} asks to send a push to {} users.\n\nTitle: {}\nBody: {}\nData: {}\n\nApprove: {}\nReject: {}\n{}\
         Status: {}\n\nThe links are yours alone, work once and expire at {}.\n",
        r.requester,
        r.counts.valid_users,
        n.title.as_deref().unwrap_or(""),
        n.body.as_deref().unwrap_or(""),
        data,
        links.approve,
        links.reject,
        links.test.as_deref().map(|t| format!("Send me a test: {t}\n")).unwrap_or_default(),
        links.status,
        time(r.expires_at),
    );
    Mail {
        from: from.to_owned(),
        to: vec![approver.to_owned()],
        subject: subject(&format!("Approval needed: {} ({} users)", label(r), r.counts.valid_users)),
        html,
        text,
    }
}

pub fn submitted(r: &ApprovalRequest, from: &str, status_url: &str) -> Mail {
    let html = wrap(&format!(
        "<h1 style=\"font-size:20px\">Your push request was sent for approval</h1>\
         <p>{} users. Approvers: {}.</p>{}<p><a href=\"{}\">Follow its status</a>.</p>",
        r.counts.valid_users,
        esc(&r.approvers.join(", ")),
        preview::banners(&r.header),
        esc(status_url)
    ));
    let text = format!(
        "Your push request {} was sent for approval.\n{} users. Approvers: {}.\nStatus: {status_url}\n",
        r.request_id,
        r.counts.valid_users,
        r.approvers.join(", ")
    );
    Mail {
        from: from.to_owned(),
        to: vec![r.requester.clone()],
        subject: subject(&format!("Push request sent for approval: {}", label(r))),
        html,
        text,
    }
}

pub fn decided(r: &ApprovalRequest, from: &str, status_url: &str) -> Mail {
    let who = r.decided_by.clone().unwrap_or_default();
    let (verb, extra) = match r.status {
        Status::Approved => ("approved", "Sending has started.".to_owned()),
        _ => (
            "rejected",
            r.reason.as_deref().map(|x| format!("Reason: {x}")).unwrap_or_else(|| "No reason was given.".into()),
        ),
    };
    let html = wrap(&format!(
        "<h1 style=\"font-size:20px\">Your push request was {verb}</h1><p>By {} at {}.</p><p>{}</p>\
         <p><a href=\"{}\">Request status</a>.</p>",
        esc(&who),
        time(r.decided_at.unwrap_or_default()),
        esc(&extra),
        esc(status_url)
    ));
    let text = format!("Your push request was {verb} by {who}.\n{extra}\nStatus: {status_url}\n");
    Mail {
        from: from.to_owned(),
        to: vec![r.requester.clone()],
        subject: subject(&format!("Push request {verb}: {}", label(r))),
        html,
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::subject;

    #[test]
    fn subjects_stay_on_one_line() {
        assert_eq!(subject("a\r\nBcc: x@y.z"), "a  Bcc: x@y.z");
        assert_eq!(subject(&"x".repeat(200)).chars().count(), 121);
    }
}
