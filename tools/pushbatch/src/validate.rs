//! `pushbatch validate FILE`: parses a batch file offline with the same
//! reader send-batch uses, counts, and lists invalid entries with offsets.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;
use shared::batch::{Encoding, FileCounts, Layout, RawItem, ReadError, scan_file};
use shared::render::Renderers;
use tokio::io::{AsyncSeekExt, BufReader};

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// A .json, .jsonl or .ndjson batch file
    pub file: PathBuf,
    /// List at most this many invalid entries
    #[arg(long, default_value_t = 20)]
    pub show: usize,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct InvalidEntry {
    pub offset: u64,
    pub line: Option<u64>,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Validation {
    pub file: String,
    pub encoding: Encoding,
    pub campaign: String,
    pub counts: FileCounts,
    pub invalid: Vec<InvalidEntry>,
    /// Set when the notification is too big for a provider.
    pub notification_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error("{0}: not a batch file name: use .json, .jsonl or .ndjson")]
    Extension(String),
    #[error("{path}: {source}")]
    Open { path: String, source: std::io::Error },
    #[error("{path}: {source}")]
    Read { path: String, source: ReadError },
}

async fn open_at(path: &Path, offset: u64) -> std::io::Result<BufReader<tokio::fs::File>> {
    let mut file = tokio::fs::File::open(path).await?;
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    Ok(BufReader::with_capacity(256 * 1024, file))
}

/// Validates a file; a malformed file is an error naming the byte offset.
pub async fn validate(path: &Path, show: usize) -> Result<Validation, ValidateError> {
    let name = path.display().to_string();
    let encoding = Encoding::from_key(&name).ok_or_else(|| ValidateError::Extension(name.clone()))?;
    let head = open_at(path, 0).await.map_err(|source| ValidateError::Open { path: name.clone(), source })?;
    let mut invalid = Vec::new();
    let collect = |item: &RawItem| {
        if let Err(reason) = &item.entry
            && invalid.len() < show
        {
            invalid.push(InvalidEntry { offset: item.offset, line: item.line, reason: reason.to_string() });
        }
    };
    let (layout, counts): (Layout, FileCounts) =
        scan_file(head, async |offset| open_at(path, offset).await, encoding, collect)
            .await
            .map_err(|source| ValidateError::Read { path: name.clone(), source })?;
    let notification_error = Renderers::new(&layout.header, "validate").err().map(|e| e.to_string());
    Ok(Validation { file: name, encoding, campaign: layout.header.campaign, counts, invalid, notification_error })
}

pub async fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let v = match validate(&args.file, args.show).await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("invalid: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("{}: {:?}, campaign {:?}", v.file, v.encoding, v.campaign);
        println!("  entries       {}", v.counts.entries);
        println!("  valid users   {}", v.counts.valid_users);
        for (reason, n) in &v.counts.invalid {
            println!("  invalid       {n} ({reason})");
        }
        for e in &v.invalid {
            let line = e.line.map(|l| format!(", line {l}")).unwrap_or_default();
            println!("    at byte {}{line}: {}", e.offset, e.reason);
        }
        if let Some(err) = &v.notification_error {
            println!("  notification  {err}");
        }
    }
    Ok(if v.notification_error.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_and_lists_invalid_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        std::fs::write(
            &path,
            "{\"campaign\":\"c\",\"notification\":{\"body\":\"b\"}}\n\"u-1\"\n{\"vars\":{}}\n\"u-3\"\n",
        )
        .unwrap();
        let v = validate(&path, 10).await.unwrap();
        assert_eq!((v.counts.entries, v.counts.valid_users), (3, 2));
        assert_eq!(v.invalid.len(), 1);
        assert_eq!(v.invalid[0].line, Some(3));
        assert_eq!(v.invalid[0].offset, 51);

        std::fs::write(&path, "{\"campaign\":\"c\",\"notification\":{\"body\":\"b\"}}\n\"u-1\"\n{oops\n").unwrap();
        let err = validate(&path, 10).await.unwrap_err().to_string();
        assert!(err.contains("byte 52") && err.contains("line 3"), "{err}");
    }
}
