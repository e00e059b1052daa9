//! The rendered payloads, so h2load and the Node baseline send exactly the
//! bytes pushbatch sends.

use std::path::Path;

use anyhow::Context as _;
use shared::batch::{Encoding, EntryReader, Layout, discover};
use shared::render::Renderer;
use tokio::io::{AsyncSeekExt, BufReader};

/// Placeholder for the device token in the FCM body template.
pub const TOKEN_MARK: &str = "__TOKEN__";

pub async fn open_at(path: &Path, offset: u64) -> anyhow::Result<BufReader<tokio::fs::File>> {
    let mut file = tokio::fs::File::open(path).await.with_context(|| format!("opening {}", path.display()))?;
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    Ok(BufReader::with_capacity(256 * 1024, file))
}

pub async fn layout(path: &Path) -> anyhow::Result<Layout> {
    let encoding = Encoding::from_key(&path.to_string_lossy()).context("the file must end in .json or .jsonl")?;
    Ok(discover(open_at(path, 0).await?, encoding).await?)
}

pub async fn write(file: &Path, apns_out: &Path, fcm_out: &Path, topic: &str) -> anyhow::Result<()> {
    let layout = layout(file).await?;
    let renderer = Renderer::new(&layout.header, topic)?;
    let mut reader = EntryReader::new(
        open_at(file, layout.users_start).await?,
        layout.users_start,
        layout.encoding,
        layout.first_line,
    );
    let first = reader.next_entry().await?.context("the file has no users")?;
    let user = first.entry.map_err(|r| anyhow::anyhow!("the first entry is invalid: {}", r.key()))?;
    let payloads = renderer.for_user(&user.vars)?;
    std::fs::write(apns_out, &payloads.apns)?;
    std::fs::write(fcm_out, payloads.fcm_body(TOKEN_MARK))?;
    tracing::info!(apns_bytes = payloads.apns.len(), "payloads written");
    Ok(())
}
