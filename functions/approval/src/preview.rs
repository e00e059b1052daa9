//! How the notification will look: a sketch of the iOS and Android banners
//! for the audience's first users, rendered with their own vars, and the
//! exact payloads send-batch will send (by the same `shared::render`).
//! Inline styles only: email clients drop `<style>` blocks.

use serde_json::{Map, Value};
use shared::approval::{ApprovalRequest, SampleEntry};
use shared::batch::{Header, UserEntry};
use shared::render::{Renderer, fill};

use crate::html::esc;

/// The APNs payload and FCM message, pretty-printed, for one user.
pub struct Payloads {
    pub apns: String,
    pub fcm: String,
}

/// The payloads for a user with these vars, or why they cannot be sent.
pub fn payloads(header: &Header, topic: &str, vars: &Map<String, Value>) -> Result<Payloads, String> {
    let renderer = Renderer::new(header, topic).map_err(|e| e.to_string())?;
    let p = renderer.for_user(vars).map_err(|e| e.to_string())?;
    let pretty = |bytes: &[u8]| {
        serde_json::from_slice::<Value>(bytes)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned())
    };
    Ok(Payloads { apns: pretty(&p.apns), fcm: pretty(&p.fcm_body("DEVICE_TOKEN")) })
}

/// The `{{name}}` placeholders of a template, as `fill` reads them.
fn placeholders(template: &str) -> impl Iterator<Item = &str> {
    template.split("{{").skip(1).filter_map(|after| after.split_once("}}").map(|(name, _)| name.trim()))
}

/// The entry as the preview keeps it: only the vars the title and body
/// use, since nothing else changes what the user sees.
pub fn sample(header: &Header, user: &UserEntry) -> SampleEntry {
    let n = &header.notification;
    let used: Vec<&str> = [&n.title, &n.body].into_iter().flatten().flat_map(|t| placeholders(t)).collect();
    SampleEntry {
        user_id: user.user_id.clone(),
        vars: user
            .vars
            .iter()
            .filter(|(k, _)| used.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        devices: user.devices.as_ref().map(|d| d.len() as u64),
    }
}

fn banner(platform: &str, card: &str, header: &Header, vars: &Map<String, Value>) -> String {
    let n = &header.notification;
    let title = n.title.as_deref().map(|t| esc(&fill(t, vars))).unwrap_or_default();
    let body = n.body.as_deref().map(|t| esc(&fill(t, vars))).unwrap_or_default();
    format!(
        "<figure style=\"margin:0 0 12px 0\"><figcaption style=\"font:600 13px sans-serif;color:#555;margin-bottom:4px\">{platform}</figcaption>\
         <div style=\"{card}\"><div style=\"font:12px sans-serif;color:#666;margin-bottom:2px\">APP · now</div>\
         <div style=\"font:600 15px sans-serif;color:#111\">{title}</div>\
         <div style=\"font:14px sans-serif;color:#222;white-space:pre-wrap\">{body}</div></div></figure>"
    )
}

/// Both banners for one user's vars, side by side where there is room.
pub fn banners(header: &Header, vars: &Map<String, Value>) -> String {
    let ios =
        "background:#f2f2f7;border-radius:18px;padding:10px 14px;max-width:340px;box-shadow:0 1px 3px rgba(0,0,0,.2)";
    let android = "background:#fff;border-radius:8px;padding:10px 14px;max-width:340px;border-left:4px solid #3ddc84;box-shadow:0 1px 3px rgba(0,0,0,.25)";
    format!("<div>{}{}</div>", banner("iOS", ios, header, vars), banner("Android", android, header, vars))
}

/// The vars as `name = value` lines (values as JSON, so a string shows its
/// quotes and an empty string is visible).
fn vars_text(vars: &Map<String, Value>) -> String {
    if vars.is_empty() {
        return "no vars".to_owned();
    }
    vars.iter().map(|(k, v)| format!("{k} = {v}")).collect::<Vec<_>>().join(", ")
}

/// One banner pair per sample user, each under its user id, vars and
/// devices. Requests stored before samples were kept show the message
/// without vars.
pub fn samples(r: &ApprovalRequest) -> String {
    if r.samples.is_empty() {
        return banners(&r.header, &Map::new());
    }
    r.samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let devices = match s.devices {
                None => "devices looked up".to_owned(),
                Some(1) => "<strong>1 inline device</strong>".to_owned(),
                Some(n) => format!("<strong>{n} inline devices</strong>"),
            };
            format!(
                "<h3 style=\"font:600 14px sans-serif;margin:12px 0 4px\" class=\"sample\">User {} of the audience: \
                 <code>{}</code></h3><p style=\"font:13px sans-serif;color:#444;margin:0 0 6px\">{} · {devices}</p>{}",
                i + 1,
                esc(&s.user_id),
                esc(&vars_text(&s.vars)),
                banners(&r.header, &s.vars)
            )
        })
        .collect()
}

/// The audience's inline devices, in words: a bold warning when any entry
/// brings its own tokens (they are sent to without a lookup).
pub fn inline_devices(r: &ApprovalRequest) -> String {
    match r.counts.with_devices {
        0 => "<p id=\"inline-devices\">No entry carries its own devices: every user's devices are looked up.</p>"
            .to_owned(),
        n => format!(
            "<p id=\"inline-devices\"><strong>This audience carries its own devices: {n} of its {} users are sent to \
             the device tokens in the file, without looking them up. The requester declared this.</strong></p>",
            r.counts.valid_users
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use shared::batch::Notification;

    use super::*;

    #[test]
    fn keeps_only_the_vars_the_message_uses() {
        let header = Header::new(
            "c",
            Notification {
                title: Some("Hi {{ name }}".into()),
                body: Some("{{city}}{{x".into()),
                ..Default::default()
            },
        );
        let user: UserEntry = serde_json::from_value(json!({"user_id": "u-1",
            "vars": {"name": "Ann", "city": "Oslo", "x": 1, "secret": "s"}, "devices": []}))
        .unwrap();
        let s = sample(&header, &user);
        assert_eq!(Value::Object(s.vars.clone()), json!({"name": "Ann", "city": "Oslo"}));
        assert_eq!(s.devices, Some(0), "an empty inline list is still inline");
        assert!(banners(&header, &s.vars).contains("Hi Ann"));
        assert!(payloads(&header, "t", &s.vars).unwrap().apns.contains("Hi Ann"));
    }
}
