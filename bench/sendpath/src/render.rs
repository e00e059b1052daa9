//! The batch reader and the renderer alone, without the network: what each
//! user's payloads cost in CPU, so that a change to the renderer can be
//! compared without the sandbox's and the machine's noise.

use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;
use shared::batch::{EntryReader, Platform};
use shared::render::Renderer;

use crate::cpu;
use crate::payload::{layout, open_at};

#[derive(Debug, Serialize)]
pub struct RenderReport {
    pub users: u64,
    pub bodies: u64,
    pub body_bytes: u64,
    pub cpu_seconds: f64,
    /// Reading, parsing and rendering one user, and building each device's body.
    pub cpu_microseconds_per_user: f64,
}

/// Reads the whole file `passes` times; every device's request body is built
/// as the clients build it (the APNs payload, the FCM body around the token).
pub async fn run(file: &Path, passes: u32) -> anyhow::Result<RenderReport> {
    let layout = layout(file).await?;
    let renderer = Renderer::new(&layout.header, "com.example.app")?;
    let (mut users, mut bodies, mut body_bytes) = (0u64, 0u64, 0u64);
    let start = cpu::process_time();
    for _ in 0..passes {
        let inner = open_at(file, layout.users_start).await?;
        let mut reader = EntryReader::new(inner, layout.users_start, layout.encoding, layout.first_line);
        while let Some(item) = reader.next_entry().await? {
            let user = item.entry.map_err(|r| anyhow::anyhow!("invalid entry: {}", r.key()))?;
            let payloads = renderer.for_user(&user.vars).context("rendering")?;
            users += 1;
            for device in user.devices.unwrap_or_default() {
                let len = match device.platform {
                    Platform::Android => payloads.fcm_body(&device.token).len(),
                    _ => payloads.apns.len(),
                };
                bodies += 1;
                body_bytes += std::hint::black_box(len) as u64;
            }
        }
    }
    let cpu = cpu::process_time().saturating_sub(start).as_secs_f64();
    Ok(RenderReport {
        users,
        bodies,
        body_bytes,
        cpu_seconds: cpu,
        cpu_microseconds_per_user: cpu * 1e6 / users.max(1) as f64,
    })
}
