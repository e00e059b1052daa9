//! The audience: counting it at submission and streaming its users into
//! the batch file on approval, with the shared reader send-batch uses.
//!
//! An audience is a batch file in either encoding (its header, if any, is
//! ignored: the request's message wins). Two shapes BI tools produce without
//! a header are accepted too: JSONL whose first line is already a user, and
//! a `.json` file that is a bare array of users.

use std::io::Cursor;

use bytes::Bytes;
use serde_json::Value;
use shared::batch::{Encoding, EntryReader, FileCounts, RawItem, ReadError, UserEntry, discover};
use shared::objects::{ByteReader, ObjectError, ObjectRead, ObjectUpload, StreamedObject};
use tokio::io::AsyncBufReadExt;

#[derive(Debug, thiserror::Error)]
pub enum AudienceError {
    #[error("there is no file at that key")]
    NotFound,
    #[error("the audience file changed since the request was made")]
    Changed,
    #[error("{0}")]
    Read(#[from] ReadError),
    #[error("{0}")]
    Storage(ObjectError),
}

impl From<ObjectError> for AudienceError {
    fn from(e: ObjectError) -> Self {
        match e {
            ObjectError::NotFound { .. } => AudienceError::NotFound,
            ObjectError::Changed { .. } => AudienceError::Changed,
            other => AudienceError::Storage(other),
        }
    }
}

/// Where the audience file's bytes come from.
pub enum Source<'a, O> {
    S3 { objects: &'a O, bucket: &'a str, key: &'a str, etag: &'a str },
    Memory(Bytes),
}

impl<O: ObjectRead> Source<'_, O> {
    async fn open(&self, offset: u64) -> Result<ByteReader, AudienceError> {
        match self {
            Source::S3 { objects, bucket, key, etag } => Ok(objects.open(bucket, key, etag, offset).await?),
            Source::Memory(bytes) => {
                let start = (offset as usize).min(bytes.len());
                Ok(Box::new(Cursor::new(bytes.slice(start..))))
            }
        }
    }
}

/// Where the users start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    pub users_start: u64,
    pub first_line: u64,
}

const BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

async fn find_start<O: ObjectRead>(source: &Source<'_, O>, encoding: Encoding) -> Result<Start, AudienceError> {
    let mut head = source.open(0).await?;
    let peek = head.fill_buf().await.map_err(ReadError::Io)?.to_vec();
    let bom = if peek.starts_with(BOM) { 3 } else { 0 };
    let first = peek[bom..].iter().position(|b| !b" \t\r\n".contains(b));
    if encoding == Encoding::Json
        && let Some(i) = first
        && peek[bom + i] == b'['
    {
        return Ok(Start { users_start: (bom + i + 1) as u64, first_line: 0 });
    }
    match discover(source.open(0).await?, encoding).await {
        Ok(layout) if layout.has_users => Ok(Start { users_start: layout.users_start, first_line: layout.first_line }),
        Ok(_) => Err(ReadError::Header("the file has no `users`".into()).into()),
        // Line 1 is a user, not a header.
        Err(ReadError::Header(_)) if encoding == Encoding::Jsonl && first.is_some() => {
            Ok(Start { users_start: bom as u64, first_line: 1 })
        }
        Err(e) => Err(e.into()),
    }
}

/// Streams every entry, handing valid users to `on_user`.
async fn each_entry<O: ObjectRead>(
    source: &Source<'_, O>,
    encoding: Encoding,
    start: Start,
    mut on_user: impl FnMut(&shared::batch::UserEntry),
) -> Result<FileCounts, AudienceError> {
    let inner = source.open(start.users_start).await?;
    let mut reader = EntryReader::new(inner, start.users_start, encoding, start.first_line);
    let mut counts = FileCounts::default();
    while let Some(item) = reader.next_entry().await? {
        if let Some(user) = tally(&mut counts, &item) {
            on_user(user);
        }
    }
    Ok(counts)
}

/// Counts an entry; its user when it is a valid one.
fn tally<'a>(counts: &mut FileCounts, item: &'a RawItem) -> Option<&'a UserEntry> {
    counts.entries += 1;
    match &item.entry {
        Ok(user) => {
            counts.valid_users += 1;
            Some(user)
        }
        Err(reason) => {
            *counts.invalid.entry(reason.key().to_owned()).or_default() += 1;
            None
        }
    }
}

/// How many of the first valid users are kept for the preview.
pub const SAMPLES: usize = 3;

/// What counting an audience found.
#[derive(Debug, Clone, PartialEq)]
pub struct Counted {
    pub start: Start,
    pub counts: FileCounts,
    /// Valid users that carry inline devices.
    pub with_devices: u64,
    /// The first [`SAMPLES`] valid users, as read.
    pub samples: Vec<UserEntry>,
}

/// Counts the audience: where its users start, how many are valid, how many
/// bring their own devices, and the first few users.
pub async fn count<O: ObjectRead>(source: &Source<'_, O>, encoding: Encoding) -> Result<Counted, AudienceError> {
    let start = find_start(source, encoding).await?;
    let mut with_devices = 0;
    let mut samples = Vec::with_capacity(SAMPLES);
    let counts = each_entry(source, encoding, start, |user| {
        if user.devices.is_some() {
            with_devices += 1;
        }
        if samples.len() < SAMPLES {
            samples.push(user.clone());
        }
    })
    .await?;
    Ok(Counted { start, counts, with_devices, samples })
}

/// A JSONL batch file: `header` on line 1, then every valid user, streamed
/// into `out` as it is read (memory does not grow with the audience).
pub async fn batch_file<O: ObjectRead, U: ObjectUpload>(
    source: &Source<'_, O>,
    encoding: Encoding,
    start: Start,
    header: &Value,
    out: &mut StreamedObject<'_, U>,
) -> Result<FileCounts, AudienceError> {
    out.write(header.to_string().as_bytes()).await?;
    let inner = source.open(start.users_start).await?;
    let mut reader = EntryReader::new(inner, start.users_start, encoding, start.first_line);
    let mut counts = FileCounts::default();
    let mut line = Vec::new();
    while let Some(item) = reader.next_entry().await? {
        if let Some(user) = tally(&mut counts, &item) {
            line.clear();
            line.push(b'\n');
            // Strings, numbers and JSON values it was read from: it always encodes.
            serde_json::to_writer(&mut line, user).expect("a user entry encodes as JSON");
            out.write(&line).await?;
        }
    }
    out.write(b"\n").await?;
    Ok(counts)
}

/// A test batch: the header, then only these user ids.
pub fn test_file(header: &Value, user_ids: &[String]) -> Bytes {
    let mut out = header.to_string().into_bytes();
    for id in user_ids {
        out.push(b'\n');
        out.extend_from_slice(Value::from(id.as_str()).to_string().as_bytes());
    }
    out.push(b'\n');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use shared::objects::MemoryObjects;

    use super::*;

    async fn counted(text: &str, encoding: Encoding) -> Result<(Start, FileCounts), AudienceError> {
        let c = count(&Source::<MemoryObjects>::Memory(Bytes::from(text.to_owned())), encoding).await?;
        Ok((c.start, c.counts))
    }

    #[tokio::test]
    async fn accepts_batch_files_and_headerless_exports() {
        let header = r#"{"campaign":"c","notification":{"body":"b"}}"#;
        let (s, c) =
            counted(&format!("{header}\n\"u-1\"\n{{\"user_id\":\"u-2\"}}\n{{}}\n"), Encoding::Jsonl).await.unwrap();
        assert_eq!((c.entries, c.valid_users, s.first_line), (3, 2, 2));
        let (s, c) = counted("{\"user_id\":\"u-1\"}\n\"u-2\"\n", Encoding::Jsonl).await.unwrap();
        assert_eq!((c.valid_users, s.users_start, s.first_line), (2, 0, 1));
        let (_, c) = counted(r#" ["u-1", {"user_id": "u-2"}, 7]"#, Encoding::Json).await.unwrap();
        assert_eq!((c.entries, c.valid_users), (3, 2));
        let (_, c) = counted(&format!(r#"{{"users": ["u-1"], {}"#, &header[1..]), Encoding::Json).await.unwrap();
        assert_eq!(c.valid_users, 1);
    }

    #[tokio::test]
    async fn keeps_the_first_users_and_counts_inline_devices() {
        let text = "{\"user_id\":\"u-1\",\"vars\":{\"name\":\"Ann\"}}\n7\n\"u-2\"\n\
                    {\"user_id\":\"u-3\",\"devices\":[{\"platform\":\"ios\",\"token\":\"abababababababababababababababababababababababababababababababab\"}]}\n\
                    {\"user_id\":\"u-4\",\"devices\":[]}\n\"u-5\"\n";
        let c = count(&Source::<MemoryObjects>::Memory(Bytes::from(text)), Encoding::Jsonl).await.unwrap();
        let ids: Vec<&str> = c.samples.iter().map(|u| u.user_id.as_str()).collect();
        assert_eq!(ids, ["u-1", "u-2", "u-3"], "valid users only, in order");
        assert_eq!(c.samples[0].vars["name"], "Ann");
        assert_eq!((c.counts.valid_users, c.with_devices), (5, 2), "an empty inline list is inline too");
    }

    #[tokio::test]
    async fn malformed_files_name_the_place() {
        let err = counted("\"u-1\"\n{oops\n", Encoding::Jsonl).await.unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(counted(r#"{"campaign": "c"}"#, Encoding::Json).await.is_err());
    }

    #[tokio::test]
    async fn writes_valid_users_after_the_header() {
        let source = Source::<MemoryObjects>::Memory(Bytes::from_static(
            b"\"u-1\"\n[]\n{\"user_id\":\"u-2\",\"vars\":{\"n\":1}}\n",
        ));
        let start = count(&source, Encoding::Jsonl).await.unwrap().start;
        let store = MemoryObjects::default();
        // Parts of 8 bytes: the file goes up in several.
        let mut out = StreamedObject::new(&store, "b", "k", "t").with_part_bytes(8);
        let c =
            batch_file(&source, Encoding::Jsonl, start, &serde_json::json!({"campaign": "x"}), &mut out).await.unwrap();
        assert!(matches!(out.finish_new().await.unwrap(), shared::objects::Created::New(_)));
        assert_eq!(c.valid_users, 2);
        let bytes = store.get("b", "k").unwrap();
        assert_eq!(
            String::from_utf8(bytes.to_vec()).unwrap(),
            "{\"campaign\":\"x\"}\n{\"user_id\":\"u-1\"}\n{\"user_id\":\"u-2\",\"vars\":{\"n\":1}}\n"
        );
        assert_eq!(test_file(&serde_json::json!({}), &["a".into()]), Bytes::from_static(b"{}\n\"a\"\n"));
    }
}
