//! How the notification will look: a sketch of the iOS and Android banners,
//! and the exact payloads send-batch will send (rendered by the same
//! `shared::render::Renderer`). Inline styles only: email clients drop
//! `<style>` blocks.

use serde_json::{Map, Value};
use shared::batch::Header;
use shared::render::Renderer;

use crate::html::esc;

/// The APNs payload and FCM message, pretty-printed, for a user without vars.
pub struct Payloads {
    pub apns: String,
    pub fcm: String,
}

pub fn payloads(header: &Header, topic: &str) -> Option<Payloads> {
    let renderer = Renderer::new(header, topic).ok()?;
    let p = renderer.for_user(&Map::new()).ok()?;
    let pretty = |bytes: &[u8]| {
        serde_json::from_slice::<Value>(bytes)
            .and_then(|v| serde_json::to_string_pretty(&v))
            .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned())
    };
    Some(Payloads { apns: pretty(&p.apns), fcm: pretty(&p.fcm_body("DEVICE_TOKEN")) })
}

fn banner(platform: &str, card: &str, header: &Header) -> String {
    let n = &header.notification;
    let title = n.title.as_deref().map(esc).unwrap_or_default();
    let body = n.body.as_deref().map(esc).unwrap_or_default();
    format!(
        "<figure style=\"margin:0 0 12px 0\"><figcaption style=\"font:600 13px sans-serif;color:#555;margin-bottom:4px\">{platform}</figcaption>\
         <div style=\"{card}\"><div style=\"font:12px sans-serif;color:#666;margin-bottom:2px\">APP · now</div>\
         <div style=\"font:600 15px sans-serif;color:#111\">{title}</div>\
         <div style=\"font:14px sans-serif;color:#222;white-space:pre-wrap\">{body}</div></div></figure>"
    )
}

/// Both banners, side by side where there is room.
pub fn banners(header: &Header) -> String {
    let ios =
        "background:#f2f2f7;border-radius:18px;padding:10px 14px;max-width:340px;box-shadow:0 1px 3px rgba(0,0,0,.2)";
    let android = "background:#fff;border-radius:8px;padding:10px 14px;max-width:340px;border-left:4px solid #3ddc84;box-shadow:0 1px 3px rgba(0,0,0,.25)";
    format!("<div>{}{}</div>", banner("iOS", ios, header), banner("Android", android, header))
}
