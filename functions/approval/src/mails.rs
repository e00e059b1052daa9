//! The emails: to approvers (preview, payload, three buttons), and to the
//! requester (submitted, decided). Inline styles only, as email clients
//! drop `<style>`; every outside value is escaped.

use shared::approval::{ApprovalRequest, Status};
use shared::mail::Mail;

use shared::render::fill;

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

/// The payloads block: the first user's exact APNs and FCM messages, or
/// why that user's message cannot be sent.
fn payloads_html(r: &ApprovalRequest, payloads: &Result<Payloads, String>) -> String {
    let pre = "background:#f4f4f4;padding:8px;white-space:pre-wrap";
    let whose = r.samples.first().map(|s| format!(" for <code>{}</code>", esc(&s.user_id))).unwrap_or_default();
    match payloads {
        Ok(p) => format!(
            "<h3 style=\"font-size:15px\">APNs payload{whose}</h3><pre style=\"{pre}\">{}</pre>\
             <h3 style=\"font-size:15px\">FCM message{whose}</h3><pre style=\"{pre}\">{}</pre>",
            esc(&p.apns),
            esc(&p.fcm)
        ),
        Err(e) => {
            format!("<p style=\"color:#b00020;font-weight:600\">The message cannot be sent{whose}: {}.</p>", esc(e))
        }
    }
}

pub fn to_approver(
    r: &ApprovalRequest,
    from: &str,
    approver: &str,
    links: &Links,
    payloads: &Result<Payloads, String>,
) -> Mail {
    let n = &r.header.notification;
    let data = format!("{:#}", serde_json::Value::Object(n.data.clone()));
    let invalid: u64 = r.counts.invalid.values().sum();
    let test_button = links.test.as_deref().map(|t| button(t, "Send me a test", "#555555")).unwrap_or_default();
    let html = wrap(&format!(
        "<h1 style=\"font-size:20px\">A push needs your approval</h1>\
         <p><strong>{requester}</strong> asks to send a notification to <strong id=\"user-count\">{users} users</strong>{invalid_note}.</p>\
         {inline_devices}<p>{approve}{reject}{test_button}</p>\
         <h2 style=\"font-size:17px\">Preview: the first users, with their vars</h2>{samples}\
         <h2 style=\"font-size:17px\">Data (JSON)</h2><pre style=\"background:#f4f4f4;padding:8px;white-space:pre-wrap\">{data}</pre>\
         {payloads}\
         <p style=\"color:#555\">Category: {category}. The links are yours alone, work once, and expire at {expires}. \
         Opening one only shows a confirmation page. <a href=\"{status}\">Request status</a>.</p>",
        requester = esc(&r.requester),
        users = r.counts.valid_users,
        invalid_note = if invalid > 0 { format!(" ({invalid} invalid entries skipped)") } else { String::new() },
        inline_devices = preview::inline_devices(r),
        approve = button(&links.approve, "Approve", "#137333"),
        reject = button(&links.reject, "Reject", "#b00020"),
        samples = preview::samples(r),
        data = esc(&data),
        payloads = payloads_html(r, payloads),
        category = esc(r.header.category.as_deref().unwrap_or("none")),
        expires = time(r.expires_at),
        status = esc(&links.status),
    ));
    let devices = match r.counts.with_devices {
        0 => String::new(),
        n => format!("\nTHIS AUDIENCE CARRIES ITS OWN DEVICES: {n} users are sent to the tokens in the file.\n"),
    };
    let samples: String = r
        .samples
        .iter()
        .map(|s| {
            let title = n.title.as_deref().map(|t| fill(t, &s.vars)).unwrap_or_default();
            let body = n.body.as_deref().map(|t| fill(t, &s.vars)).unwrap_or_default();
            format!("  {}: {title} / {body}\n", s.user_id)
        })
        .collect();
    let text = format!(
        "{} asks to send a push to {} users.\n{devices}\nTitle: {}\nBody: {}\nData: {}\n\nAs the first users get it:\n{samples}\n\
         Approve: {}\nReject: {}\n{}Status: {}\n\nThe links are yours alone, work once and expire at {}.\n",
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
        preview::samples(r),
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
