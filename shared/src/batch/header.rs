//! Finds a batch file's header and where its users start.
//!
//! For `.json` the keys may come in any order, so the whole top-level object is
//! walked once (the `users` array is skipped, not parsed). The result is stored
//! in the job record so continuations never repeat this pass. For very large
//! files JSONL avoids it entirely: its header is line 1.

use serde_json::{Map, Value};
use tokio::io::AsyncBufRead;

use super::model::Header;
use super::reader::{Cursor, Encoding, ReadError, column_offset, trim_ascii};

/// A header field larger than this is not a notification.
const MAX_HEADER_FIELD_BYTES: usize = 1024 * 1024;

/// What a continuation needs to know about a file before reading entries.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Layout {
    pub header: Header,
    pub encoding: Encoding,
    /// Offset of the first user entry (or of `]` / end of file when none).
    pub users_start: u64,
    /// JSONL: line number at `users_start`.
    pub first_line: u64,
    /// False when a `.json` file has no `users` key at all.
    pub has_users: bool,
}

/// Reads the header from the start of the file.
pub async fn discover<R: AsyncBufRead + Unpin>(inner: R, encoding: Encoding) -> Result<Layout, ReadError> {
    let mut cur = Cursor { inner, pos: 0 };
    cur.skip_bom().await?;
    match encoding {
        Encoding::Jsonl => discover_jsonl(cur).await,
        Encoding::Json => discover_json(cur).await,
    }
}

async fn discover_jsonl<R: AsyncBufRead + Unpin>(mut cur: Cursor<R>) -> Result<Layout, ReadError> {
    // After the BOM, if any: offsets stay absolute.
    let start = cur.pos;
    let mut buf = Vec::new();
    loop {
        let Some(b) = cur.peek().await? else { break };
        cur.advance(1);
        if b == b'\n' {
            break;
        }
        if buf.len() >= MAX_HEADER_FIELD_BYTES {
            return Err(ReadError::Header("line 1 is longer than 1 MiB".into()));
        }
        buf.push(b);
    }
    let text = trim_ascii(&buf);
    if text.is_empty() {
        return Err(ReadError::Header("line 1 must be the header object".into()));
    }
    let lead = (text.as_ptr() as usize - buf.as_ptr() as usize) as u64;
    let value: Value = serde_json::from_slice(text).map_err(|e| ReadError::Malformed {
        offset: start + lead + column_offset(text, &e),
        line: Some(1),
        message: e.to_string(),
    })?;
    let Value::Object(map) = value else {
        return Err(ReadError::Header("line 1 must be a JSON object".into()));
    };
    if map.contains_key("users") {
        return Err(ReadError::Header(
            "a JSONL header must not contain `users`: put one user per line after it".into(),
        ));
    }
    Ok(Layout {
        header: header_from(map)?,
        encoding: Encoding::Jsonl,
        users_start: cur.pos,
        first_line: 2,
        has_users: true,
    })
}

async fn discover_json<R: AsyncBufRead + Unpin>(mut cur: Cursor<R>) -> Result<Layout, ReadError> {
    let malformed = |offset, message: &str| ReadError::Malformed { offset, line: None, message: message.into() };
    if cur.skip_whitespace().await? != Some(b'{') {
        return Err(malformed(cur.pos, "a .json batch file must be one JSON object"));
    }
    cur.advance(1);
    let mut map = Map::new();
    let mut users_start = None;
    let mut buf = Vec::new();
    let mut first = true;
    loop {
        match cur.skip_whitespace().await? {
            Some(b'}') => break,
            Some(b',') if !first => {
                cur.advance(1);
                cur.skip_whitespace().await?;
            }
            Some(b'"') if first => {}
            None => return Err(malformed(cur.pos, "the file ends inside the top-level object (truncated?)")),
            Some(_) => return Err(malformed(cur.pos, "expected `,` or `}` between top-level keys")),
        }
        first = false;
        let key_at = cur.pos;
        buf.clear();
        cur.value(Some(&mut buf), MAX_HEADER_FIELD_BYTES, None).await?;
        let key: String = serde_json::from_slice(&buf).map_err(|_| malformed(key_at, "expected a key string"))?;
        if cur.skip_whitespace().await? != Some(b':') {
            return Err(malformed(cur.pos, "expected `:` after a key"));
        }
        cur.advance(1);
        let value_at = match cur.skip_whitespace().await? {
            Some(_) => cur.pos,
            None => return Err(malformed(cur.pos, "the file ends after a key (truncated?)")),
        };
        if key == "users" {
            if users_start.is_some() {
                return Err(malformed(key_at, "`users` appears twice"));
            }
            if cur.peek().await? != Some(b'[') {
                return Err(ReadError::Header("`users` must be an array".into()));
            }
            cur.advance(1);
            cur.skip_whitespace().await?;
            users_start = Some(cur.pos);
            // Skip the entries: boundaries only, no parsing, no buffering.
            skip_array_rest(&mut cur).await?;
        } else {
            buf.clear();
            cur.value(Some(&mut buf), MAX_HEADER_FIELD_BYTES, None).await?;
            let value: Value = serde_json::from_slice(&buf).map_err(|e| ReadError::Malformed {
                // A pretty-printed header value spans lines: count them.
                offset: value_at + column_offset(&buf, &e),
                line: None,
                message: e.to_string(),
            })?;
            map.insert(key, value);
        }
    }
    let header = header_from(map)?;
    Ok(Layout {
        header,
        encoding: Encoding::Json,
        users_start: users_start.unwrap_or(cur.pos),
        first_line: 0,
        has_users: users_start.is_some(),
    })
}

/// Skips from just inside `[` to just past the matching `]`.
async fn skip_array_rest<R: AsyncBufRead + Unpin>(cur: &mut Cursor<R>) -> Result<(), ReadError> {
    loop {
        match cur.skip_whitespace().await? {
            Some(b']') => {
                cur.advance(1);
                return Ok(());
            }
            Some(b',') => cur.advance(1),
            Some(_) => cur.value(None, usize::MAX, None).await?,
            None => {
                return Err(ReadError::Malformed {
                    offset: cur.pos,
                    line: None,
                    message: "the file ends inside `users` (truncated?)".into(),
                });
            }
        }
    }
}

fn header_from(map: Map<String, Value>) -> Result<Header, ReadError> {
    // The path names the field at fault: `kind: unknown variant ...`,
    // `notification.live_activity.timestamp: invalid type ...`.
    let header: Header = serde_path_to_error::deserialize(Value::Object(map)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ReadError::Header(if path == "." { inner.to_string() } else { format!("`{path}`: {inner}") })
    })?;
    header.validate().map_err(ReadError::Header)?;
    Ok(header)
}
