//! `multipart/form-data` (RFC 7578), enough for one HTML form: the body is
//! already whole in memory (Lambda delivers it so), so a small parser over
//! a byte slice does; an async streaming crate would add nothing.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub file_name: Option<String>,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    #[error("the form's Content-Type has no boundary")]
    NoBoundary,
    #[error("the form data is malformed: {0}")]
    Malformed(&'static str),
}

/// The boundary parameter of a `multipart/form-data` Content-Type.
pub fn boundary(content_type: &str) -> Result<String, MultipartError> {
    content_type
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 70)
        .ok_or(MultipartError::NoBoundary)
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|i| i + from)
}

/// A quoted (or bare) parameter of a Content-Disposition value.
fn param(disposition: &str, key: &str) -> Option<String> {
    let lower = disposition.to_ascii_lowercase();
    let mut search = 0;
    while let Some(i) = lower[search..].find(key).map(|i| i + search) {
        let before_ok = i == 0 || matches!(lower.as_bytes()[i - 1], b' ' | b';');
        let rest = &disposition[i + key.len()..];
        if before_ok && let Some(rest) = rest.strip_prefix('=') {
            return Some(match rest.strip_prefix('"') {
                Some(q) => q.split('"').next().unwrap_or_default().to_owned(),
                None => rest.split(';').next().unwrap_or_default().trim().to_owned(),
            });
        }
        search = i + key.len();
    }
    None
}

pub fn parse(body: &[u8], boundary: &str) -> Result<Vec<Part>, MultipartError> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut at = find(body, delimiter, 0).ok_or(MultipartError::Malformed("no boundary in the body"))?;
    let mut parts = Vec::new();
    loop {
        at += delimiter.len();
        if body.get(at..at + 2) == Some(b"--") {
            return Ok(parts);
        }
        // The delimiter line ends with CRLF (padding before it is allowed).
        let line_end = find(body, b"\r\n", at).ok_or(MultipartError::Malformed("a part has no headers"))?;
        let head_start = line_end + 2;
        let head_end =
            find(body, b"\r\n\r\n", head_start).ok_or(MultipartError::Malformed("a part's headers never end"))?;
        let headers = std::str::from_utf8(&body[head_start..head_end])
            .map_err(|_| MultipartError::Malformed("a part's headers are not UTF-8"))?;
        let data_start = head_end + 4;
        let mut closing = Vec::with_capacity(delimiter.len() + 2);
        closing.extend_from_slice(b"\r\n");
        closing.extend_from_slice(delimiter);
        let data_end =
            find(body, &closing, data_start).ok_or(MultipartError::Malformed("the last part is not closed"))?;
        let disposition = headers
            .split("\r\n")
            .filter_map(|h| h.split_once(':'))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition"))
            .map(|(_, v)| v.trim())
            .ok_or(MultipartError::Malformed("a part has no Content-Disposition"))?;
        let name = param(disposition, "name").ok_or(MultipartError::Malformed("a part has no name"))?;
        parts.push(Part { name, file_name: param(disposition, "filename"), data: body[data_start..data_end].to_vec() });
        at = data_end + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_files() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nHello \r\nworld\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"audience_file\"; filename=\"a.jsonl\"\r\nContent-Type: application/octet-stream\r\n\r\n\"u-1\"\n\"u-2\"\n\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"empty\"; filename=\"\"\r\n\r\n\r\n--XyZ--\r\n";
        let parts = parse(body, &boundary("multipart/form-data; boundary=XyZ").unwrap()).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!((parts[0].name.as_str(), parts[0].data.as_slice()), ("title", &b"Hello \r\nworld"[..]));
        assert_eq!(parts[1].file_name.as_deref(), Some("a.jsonl"));
        assert_eq!(parts[1].data, b"\"u-1\"\n\"u-2\"\n");
        assert_eq!((parts[2].file_name.as_deref(), parts[2].data.len()), (Some(""), 0));
    }

    #[test]
    fn refuses_broken_bodies() {
        assert_eq!(boundary("multipart/form-data"), Err(MultipartError::NoBoundary));
        assert_eq!(boundary("multipart/form-data; boundary=\"q r\"").unwrap(), "q r");
        assert!(parse(b"nothing here", "b").is_err());
        assert!(parse(b"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nunterminated", "b").is_err());
        assert!(parse(b"--b\r\nX: y\r\n\r\nv\r\n--b--", "b").is_err());
    }
}
