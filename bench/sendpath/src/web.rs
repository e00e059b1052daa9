//! Web Push helpers for the benchmark: subscriptions made on the push
//! sandbox (as browsers would), and the CPU cost of the encryption alone.

use std::path::Path;

use anyhow::Context as _;
use serde_json::{Value, json};
use shared::batch::{Encoding, EntryReader, Platform, WebKeys};
use shared::render::Renderer;
use web_push_native::Auth;

use crate::cpu;
use crate::payload::{layout, open_at};

/// POSTs `count` subscriptions to the sandbox's control route and writes
/// them, one `PushSubscription.toJSON()` per line.
pub async fn subscribe(sandbox_http: &str, count: usize, out: &Path) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let mut lines = String::new();
    for _ in 0..count {
        let resp = client
            .post(format!("http://{sandbox_http}/webpush/subscriptions"))
            .json(&json!({}))
            .send()
            .await
            .context("POST /webpush/subscriptions")?;
        anyhow::ensure!(resp.status() == 201, "the sandbox answered {}", resp.status());
        let mut sub: Value = resp.json().await?;
        if let Some(obj) = sub.as_object_mut() {
            obj.remove("id");
        }
        lines.push_str(&sub.to_string());
        lines.push('\n');
    }
    std::fs::write(out, lines).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

pub fn read_subscriptions(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| Ok(serde_json::from_str(l)?)).collect()
}

#[derive(Debug, serde::Serialize)]
pub struct EncryptReport {
    pub messages: u64,
    pub plaintext_bytes: usize,
    pub cpu_seconds: f64,
    /// Decoding the subscription's keys and RFC 8291 encryption, per message.
    pub cpu_microseconds_per_message: f64,
}

/// Encrypts the first web user's message `messages` times, as the client
/// does for each subscription, and measures the CPU it takes.
pub async fn encrypt(file: &Path, messages: u64) -> anyhow::Result<EncryptReport> {
    let layout = layout(file).await?;
    let renderer = Renderer::new(&layout.header, "com.example.app")?;
    let inner = open_at(file, layout.users_start).await?;
    let mut reader = EntryReader::new(inner, layout.users_start, Encoding::Jsonl, layout.first_line);
    let (vars, keys) = loop {
        let item = reader.next_entry().await?.context("the file has no web user")?;
        let Ok(user) = item.entry else { continue };
        let web = user.devices.iter().flatten().find(|d| d.platform == Platform::Web).and_then(|d| d.keys.clone());
        if let Some(keys) = web {
            break (user.vars, keys);
        }
    };
    let plaintext = renderer.for_user(&vars)?.web;
    let start = cpu::process_time();
    for _ in 0..messages {
        std::hint::black_box(encrypt_once(&keys, &plaintext)?);
    }
    let cpu = cpu::process_time().saturating_sub(start).as_secs_f64();
    Ok(EncryptReport {
        messages,
        plaintext_bytes: plaintext.len(),
        cpu_seconds: cpu,
        cpu_microseconds_per_message: cpu * 1e6 / messages.max(1) as f64,
    })
}

fn encrypt_once(keys: &WebKeys, plaintext: &[u8]) -> anyhow::Result<Vec<u8>> {
    let (public, auth) = keys.decode()?;
    Ok(web_push_native::encrypt(plaintext.to_vec(), &public, &Auth::from(auth))?)
}
