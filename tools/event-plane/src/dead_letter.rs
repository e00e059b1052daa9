//! `<state-dir>/dead-letter.jsonl`: the local stand-in for an async
//! invocation's on-failure destination.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use crate::stats::Source;

pub const FILE_NAME: &str = "dead-letter.jsonl";

#[derive(Debug, Serialize)]
pub struct DeadLetterRecord<'a> {
    pub function: &'a str,
    /// The payload as JSON when it is JSON, else as a (lossy UTF-8) string.
    pub payload: Value,
    pub error: &'a str,
    pub attempts: u32,
    pub time: DateTime<Utc>,
    pub id: &'a str,
    pub source: Source,
}

pub fn payload_value(payload: &[u8]) -> Value {
    serde_json::from_slice(payload).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(payload).into_owned()))
}

#[derive(Debug)]
pub struct DeadLetters {
    path: PathBuf,
    // Serialises appends so concurrent failures never interleave lines.
    write_lock: Mutex<()>,
}

impl DeadLetters {
    pub fn new(state_dir: &Path) -> Self {
        DeadLetters { path: state_dir.join(FILE_NAME), write_lock: Mutex::new(()) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub async fn append(&self, record: &DeadLetterRecord<'_>) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        let _guard = self.write_lock.lock().await;
        let mut file = tokio::fs::OpenOptions::new().create(true).append(true).open(&self.path).await?;
        file.write_all(&line).await?;
        // tokio's File completes writes in the background; flush so the line is
        // on disk before the attempt counts as finished.
        file.flush().await
    }
}
