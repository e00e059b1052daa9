//! Streams the user entries of a batch file, each with its byte offset.
//!
//! Memory holds one entry at a time, whatever the file's size. A reader can
//! start at any offset it has returned, which is how a continuation resumes.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use super::fields::EntryItem;
use super::invalid::InvalidReason;
use super::model::{UserEntry, entry_from_fields};
use super::scan::{Step, ValueScanner, is_whitespace};

/// The two encodings of Contract 1, chosen by the object key's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Json,
    Jsonl,
}

impl Encoding {
    pub fn from_key(key: &str) -> Option<Self> {
        let lower = key.to_ascii_lowercase();
        if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
            Some(Encoding::Jsonl)
        } else if lower.ends_with(".json") {
            Some(Encoding::Json)
        } else {
            None
        }
    }
}

/// Entries larger than this stop the job: a user entry is a few hundred bytes,
/// so anything this big is a broken export, not a user.
pub const DEFAULT_MAX_ENTRY_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("malformed JSON at byte {offset}{}: {message}", fmt_line(*.line))]
    Malformed { offset: u64, line: Option<u64>, message: String },
    #[error("entry at byte {offset}{} is larger than {limit} bytes", fmt_line(*.line))]
    TooLarge { offset: u64, line: Option<u64>, limit: usize },
    #[error("invalid batch header: {0}")]
    Header(String),
    #[error("reading the batch file: {0}")]
    Io(#[from] std::io::Error),
}

fn fmt_line(line: Option<u64>) -> String {
    line.map(|l| format!(" (line {l})")).unwrap_or_default()
}

/// One entry as read: where it starts, and either a user or why not.
#[derive(Debug, Clone, PartialEq)]
pub struct RawItem {
    pub offset: u64,
    pub line: Option<u64>,
    pub entry: Result<UserEntry, InvalidReason>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// JSON: at a value or at the closing bracket; no comma expected.
    AtValue,
    Done,
}

/// Byte-level access to a buffered async reader with an absolute position.
pub(crate) struct Cursor<R> {
    pub(crate) inner: R,
    pub(crate) pos: u64,
}

impl<R: AsyncBufRead + Unpin> Cursor<R> {
    pub(crate) async fn peek(&mut self) -> std::io::Result<Option<u8>> {
        let buf = self.inner.fill_buf().await?;
        Ok(buf.first().copied())
    }

    pub(crate) fn advance(&mut self, n: usize) {
        self.inner.consume(n);
        self.pos += n as u64;
    }

    pub(crate) async fn skip_whitespace(&mut self) -> std::io::Result<Option<u8>> {
        loop {
            let buf = self.inner.fill_buf().await?;
            if buf.is_empty() {
                return Ok(None);
            }
            match buf.iter().position(|&b| !is_whitespace(b)) {
                Some(i) => {
                    let b = buf[i];
                    self.advance(i);
                    return Ok(Some(b));
                }
                None => {
                    let n = buf.len();
                    self.advance(n);
                }
            }
        }
    }

    /// Skips a UTF-8 byte order mark at the very start of a file.
    ///
    /// Byte by byte, because a read may return fewer than three bytes (an S3
    /// body arrives in chunks of any size). Only the BOM may start with 0xEF
    /// in a JSON file, so a partial match is refused where it starts.
    pub(crate) async fn skip_bom(&mut self) -> Result<(), ReadError> {
        const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];
        if self.pos != 0 {
            return Ok(());
        }
        for (i, &b) in BOM.iter().enumerate() {
            if self.peek().await? != Some(b) {
                if i == 0 {
                    return Ok(());
                }
                return Err(ReadError::Malformed {
                    offset: 0,
                    line: None,
                    message: "the file starts with a broken byte order mark (not UTF-8?)".into(),
                });
            }
            self.advance(1);
        }
        Ok(())
    }

    /// Reads one JSON value; into `out` when given, else only skipped.
    pub(crate) async fn value(
        &mut self,
        mut out: Option<&mut Vec<u8>>,
        limit: usize,
        line: Option<u64>,
    ) -> Result<(), ReadError> {
        let start = self.pos;
        let mut scanner = ValueScanner::new();
        let mut len = 0usize;
        loop {
            let buf = self.inner.fill_buf().await?;
            if buf.is_empty() {
                if scanner.finish() {
                    return Ok(());
                }
                return Err(ReadError::Malformed {
                    offset: self.pos,
                    line,
                    message: "the file ends inside an entry (truncated?)".into(),
                });
            }
            let step = scanner.feed(buf);
            let take = match step {
                Step::Done(n) => n,
                Step::More => buf.len(),
                Step::Invalid(i, why) => {
                    return Err(ReadError::Malformed { offset: self.pos + i as u64, line, message: why.into() });
                }
            };
            len += take;
            if let Some(out) = out.as_deref_mut() {
                if len > limit {
                    return Err(ReadError::TooLarge { offset: start, line, limit });
                }
                out.extend_from_slice(&buf[..take]);
            }
            self.advance(take);
            if matches!(step, Step::Done(_)) {
                return Ok(());
            }
        }
    }

    /// Reads up to and including the next newline into `out`; false at EOF.
    async fn line(&mut self, out: &mut Vec<u8>, limit: usize, line: Option<u64>) -> Result<bool, ReadError> {
        let start = self.pos;
        loop {
            let buf = self.inner.fill_buf().await?;
            if buf.is_empty() {
                return Ok(!out.is_empty());
            }
            let (take, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            if out.len() + take > limit {
                return Err(ReadError::TooLarge { offset: start, line, limit });
            }
            out.extend_from_slice(&buf[..take]);
            self.advance(take);
            if done {
                return Ok(true);
            }
        }
    }
}

/// Parses one entry's bytes. A syntax error is malformed JSON (it stops the
/// job); a well-formed value that is not a user is an invalid entry.
pub(crate) fn parse_entry(
    bytes: &[u8],
    offset: u64,
    line: Option<u64>,
) -> Result<Result<UserEntry, InvalidReason>, ReadError> {
    match serde_json::from_slice::<EntryItem>(bytes) {
        Ok(item) => Ok(entry_from_fields(item)),
        Err(e) => Err(ReadError::Malformed {
            offset: offset + column_offset(bytes, &e),
            line: line.map(|l| l + e.line() as u64 - 1),
            message: e.to_string(),
        }),
    }
}

/// Byte position inside `bytes` that serde_json's (line, column) points at.
pub(crate) fn column_offset(bytes: &[u8], e: &serde_json::Error) -> u64 {
    let mut line = 1;
    let mut at = 0usize;
    while line < e.line() {
        match bytes[at..].iter().position(|&b| b == b'\n') {
            Some(i) => at += i + 1,
            None => break,
        }
        line += 1;
    }
    (at + e.column().saturating_sub(1)).min(bytes.len()) as u64
}

/// Streams entries from a position that is an entry's first byte (or the
/// closing bracket / end of file).
pub struct EntryReader<R> {
    cur: Cursor<R>,
    encoding: Encoding,
    state: State,
    /// JSONL: the line number of the next line.
    line: u64,
    /// False when reading from the middle of a file whose earlier lines were
    /// never counted (a shard): offsets then say where, not line numbers.
    count_lines: bool,
    max_entry: usize,
    buf: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> EntryReader<R> {
    /// `inner` must already be positioned at `offset`. `line` is the line
    /// number at that offset (JSONL; ignored for JSON).
    pub fn new(inner: R, offset: u64, encoding: Encoding, line: u64) -> Self {
        Self {
            cur: Cursor { inner, pos: offset },
            encoding,
            state: State::AtValue,
            line,
            count_lines: true,
            max_entry: DEFAULT_MAX_ENTRY_BYTES,
            buf: Vec::new(),
        }
    }

    /// For a start whose line number is unknown: entries and errors carry
    /// byte offsets only.
    pub fn without_line_numbers(mut self) -> Self {
        self.count_lines = false;
        self
    }

    pub fn with_max_entry_bytes(mut self, limit: usize) -> Self {
        self.max_entry = limit;
        self
    }

    /// Offset of the next entry: where a continuation would resume.
    pub fn position(&self) -> u64 {
        self.cur.pos
    }

    /// Line number of the next line (JSONL).
    pub fn line(&self) -> u64 {
        self.line
    }

    pub async fn next_entry(&mut self) -> Result<Option<RawItem>, ReadError> {
        match self.encoding {
            Encoding::Json => self.next_json().await,
            Encoding::Jsonl => self.next_jsonl().await,
        }
    }

    async fn next_json(&mut self) -> Result<Option<RawItem>, ReadError> {
        if self.state == State::Done {
            return Ok(None);
        }
        match self.cur.skip_whitespace().await? {
            None => {
                return Err(ReadError::Malformed {
                    offset: self.cur.pos,
                    line: None,
                    message: "the file ends inside `users` (truncated?)".into(),
                });
            }
            Some(b']') => {
                self.state = State::Done;
                return Ok(None);
            }
            Some(_) => {}
        }
        let offset = self.cur.pos;
        self.buf.clear();
        self.cur.value(Some(&mut self.buf), self.max_entry, None).await?;
        let entry = parse_entry(&self.buf, offset, None)?;
        // Move to the next entry now, so position() is always a resume point.
        match self.cur.skip_whitespace().await? {
            Some(b',') => {
                self.cur.advance(1);
                match self.cur.skip_whitespace().await? {
                    Some(b']') => {
                        return Err(ReadError::Malformed {
                            offset: self.cur.pos,
                            line: None,
                            message: "trailing comma before `]`".into(),
                        });
                    }
                    None => {
                        return Err(ReadError::Malformed {
                            offset: self.cur.pos,
                            line: None,
                            message: "the file ends inside `users` (truncated?)".into(),
                        });
                    }
                    Some(_) => {}
                }
            }
            Some(b']') => {}
            Some(_) => {
                return Err(ReadError::Malformed {
                    offset: self.cur.pos,
                    line: None,
                    message: "expected `,` or `]` after an entry".into(),
                });
            }
            None => {
                return Err(ReadError::Malformed {
                    offset: self.cur.pos,
                    line: None,
                    message: "the file ends inside `users` (truncated?)".into(),
                });
            }
        }
        Ok(Some(RawItem { offset, line: None, entry }))
    }

    async fn next_jsonl(&mut self) -> Result<Option<RawItem>, ReadError> {
        loop {
            let offset = self.cur.pos;
            let line = self.count_lines.then_some(self.line);
            self.buf.clear();
            if !self.cur.line(&mut self.buf, self.max_entry, line).await? {
                self.state = State::Done;
                return Ok(None);
            }
            self.line += 1;
            let text = trim_ascii(&self.buf);
            if text.is_empty() {
                continue;
            }
            let lead = (text.as_ptr() as usize - self.buf.as_ptr() as usize) as u64;
            let entry = parse_entry(text, offset + lead, line)?;
            return Ok(Some(RawItem { offset, line, entry }));
        }
    }
}

pub(crate) fn trim_ascii(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !is_whitespace(*b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !is_whitespace(*b)).map_or(start, |i| i + 1);
    &bytes[start..end]
}
