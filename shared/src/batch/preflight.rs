//! The pre-flight check: every entry of a file read and parsed before its
//! first push, so that a malformed file sends nothing (it used to send what
//! came before the break) and a file cut cleanly at a line end can be caught
//! with the header's `expected_users`.

use tokio::io::AsyncBufRead;

use super::header::Layout;
use super::reader::{EntryReader, ReadError};

/// What the check found in a file's user part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileCheck {
    pub entries: u64,
    pub valid_users: u64,
    /// Bytes of the user part read.
    pub bytes: u64,
}

/// Why a file fails the check.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("`expected_users` is {expected} but the file has {found} entries (cut short, or the wrong file?)")]
    Count { expected: u64, found: u64 },
}

/// Reads the user part from `users_start`, which `inner` must start at.
pub async fn preflight<R: AsyncBufRead + Unpin>(inner: R, layout: &Layout) -> Result<FileCheck, PreflightError> {
    let mut check = FileCheck::default();
    if layout.has_users {
        let mut reader = EntryReader::new(inner, layout.users_start, layout.encoding, layout.first_line);
        while let Some(item) = reader.next_entry().await? {
            check.entries += 1;
            check.valid_users += u64::from(item.entry.is_ok());
        }
        check.bytes = reader.position().saturating_sub(layout.users_start);
    }
    match layout.header.expected_users {
        Some(expected) if expected != check.entries => Err(PreflightError::Count { expected, found: check.entries }),
        _ => Ok(check),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Encoding, discover};

    async fn check(text: &str, encoding: Encoding) -> Result<FileCheck, PreflightError> {
        let layout = discover(text.as_bytes(), encoding).await.unwrap();
        preflight(&text.as_bytes()[layout.users_start as usize..], &layout).await
    }

    const HEAD: &str = r#"{"campaign":"c","notification":{"body":"b"}"#;

    #[tokio::test]
    async fn counts_every_entry_and_names_the_first_bad_one() {
        let good = format!("{HEAD}}}\n\"u-1\"\n{{\"user_id\":\"u-2\"}}\n42\n");
        let c = check(&good, Encoding::Jsonl).await.unwrap();
        assert_eq!((c.entries, c.valid_users), (3, 2));
        let bad = format!("{HEAD}}}\n\"u-1\"\n\"u-2\"\n{{\"user_id\": \"u-3\"\n\"u-4\"\n");
        let e = check(&bad, Encoding::Jsonl).await.unwrap_err().to_string();
        assert!(e.contains("line 4"), "{e}");
        let json = format!("{HEAD},\"users\":[\"u-1\",{{\"user_id\":tru}}]}}");
        assert!(matches!(check(&json, Encoding::Json).await, Err(PreflightError::Read(ReadError::Malformed { .. }))));
    }

    #[tokio::test]
    async fn expected_users_catches_a_clean_cut() {
        let head = format!("{HEAD},\"expected_users\":3}}");
        let cut = format!("{head}\n\"u-1\"\n\"u-2\"\n");
        let e = check(&cut, Encoding::Jsonl).await.unwrap_err();
        assert!(matches!(e, PreflightError::Count { expected: 3, found: 2 }), "{e}");
        check(&format!("{cut}\"u-3\"\n"), Encoding::Jsonl).await.unwrap();
    }
}
