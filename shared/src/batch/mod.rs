//! Batch files (Contract 1): the model, the header, and the entry stream.

mod device;
mod fields;
mod header;
mod invalid;
mod kind;
mod model;
mod notification;
mod platform;
mod preflight;
mod reader;
mod rules;
mod scan;
mod subscription;

pub use device::Device;
pub use header::{Layout, discover};
pub use invalid::InvalidReason;
pub use kind::{InterruptionLevel, Kind, LiveActivity, LiveActivityEvent};
pub use model::{Canary, CanaryThen, Header, QuietMode, UserEntry, entry_from_value};
pub use notification::{Localized, Notification, Priority};
pub use platform::Platform;
pub use preflight::{FileCheck, PreflightError, preflight};
pub use reader::{DEFAULT_MAX_ENTRY_BYTES, Encoding, EntryReader, RawItem, ReadError};
pub use subscription::{AUTH_LEN, P256DH_LEN, SubscriptionError, WebKeys, endpoint_problem, subscription_from_value};

/// Counts of a whole file, as `pushbatch validate` and the approval form need.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileCounts {
    pub entries: u64,
    pub valid_users: u64,
    pub invalid: std::collections::BTreeMap<String, u64>,
}

/// Reads a whole file from the start: its layout, then every entry in order,
/// handing each to `on_item`. Used offline and by the approval flow; send-batch
/// reads in batches instead.
pub async fn scan_file<R, F>(
    mut inner_for_header: R,
    reopen: impl AsyncFnOnce(u64) -> std::io::Result<R>,
    encoding: Encoding,
    mut on_item: F,
) -> Result<(Layout, FileCounts), ReadError>
where
    R: tokio::io::AsyncBufRead + Unpin,
    F: FnMut(&RawItem),
{
    let layout = discover(&mut inner_for_header, encoding).await?;
    let mut counts = FileCounts::default();
    if layout.has_users {
        let inner = reopen(layout.users_start).await?;
        let mut reader = EntryReader::new(inner, layout.users_start, layout.encoding, layout.first_line);
        while let Some(item) = reader.next_entry().await? {
            counts.entries += 1;
            match &item.entry {
                Ok(_) => counts.valid_users += 1,
                Err(reason) => *counts.invalid.entry(reason.key().to_owned()).or_default() += 1,
            }
            on_item(&item);
        }
    }
    Ok((layout, counts))
}

#[cfg(test)]
mod tests;
