//! Small helpers for building responses and reading bounded bodies.

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Body;

pub type Resp = Response<Full<Bytes>>;

pub const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");
pub const JSON_UTF8: HeaderValue = HeaderValue::from_static("application/json; charset=UTF-8");

pub fn empty(status: StatusCode) -> Resp {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

pub fn with_body(status: StatusCode, content_type: HeaderValue, body: impl Into<Bytes>) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(CONTENT_TYPE, content_type);
    r
}

pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Resp {
    with_body(status, APPLICATION_JSON, body)
}

pub fn text(status: StatusCode, body: &'static str) -> Resp {
    with_body(status, HeaderValue::from_static("text/plain; charset=utf-8"), Bytes::from_static(body.as_bytes()))
}

/// `{"error": "..."}` for the sandbox's own control routes.
pub fn control_error(status: StatusCode, message: &str) -> Resp {
    let body = serde_json::json!({ "error": message }).to_string();
    json(status, body)
}

/// A control route's JSON answer; a value that does not serialise is a 500.
pub fn json_of(status: StatusCode, value: &impl serde::Serialize) -> Resp {
    match serde_json::to_vec(value) {
        Ok(body) => json(status, body),
        Err(e) => control_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// How much of a body is read before answering; beyond it the stream is reset.
pub const DRAIN_LIMIT: usize = 64 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    /// The client reset or broke the stream while sending.
    Read,
}

/// Reads the whole body, refusing more than `limit` bytes (early, from content-length,
/// when the client declares it).
pub async fn read_limited<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes> + Unpin,
{
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    // By hand rather than Limited + collect: a push body is almost always one DATA
    // frame, which is then returned as is (no copy, no chunk queue).
    let mut body = body;
    let mut first: Option<Bytes> = None;
    let mut joined: Option<BytesMut> = None;
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| BodyError::Read)?.into_data() else {
            continue; // trailers carry no payload
        };
        total += data.len();
        if total > limit {
            return Err(BodyError::TooLarge);
        }
        match (&mut first, &mut joined) {
            (None, None) => first = Some(data),
            (Some(f), None) => {
                let mut buf = BytesMut::with_capacity(total.max(f.len() * 2));
                buf.extend_from_slice(f);
                buf.extend_from_slice(&data);
                joined = Some(buf);
            }
            (_, Some(buf)) => buf.extend_from_slice(&data),
        }
    }
    Ok(match joined {
        Some(buf) => buf.freeze(),
        None => first.unwrap_or_default(),
    })
}

pub fn now_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub fn now_secs() -> i64 {
    (now_millis() / 1000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::body::Frame;
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// A body that yields the given chunks as separate DATA frames.
    struct Chunks(VecDeque<&'static [u8]>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(|c| Ok(Frame::data(Bytes::from_static(c)))))
        }
    }

    fn chunks(c: &[&'static [u8]]) -> Chunks {
        Chunks(c.iter().copied().collect())
    }

    #[tokio::test]
    async fn joins_frames_and_enforces_the_limit() {
        let h = HeaderMap::new();
        assert_eq!(read_limited(&h, chunks(&[b"ab", b"cd", b"e"]), 10).await, Ok(Bytes::from_static(b"abcde")));
        assert_eq!(read_limited(&h, chunks(&[b"abc"]), 3).await, Ok(Bytes::from_static(b"abc")));
        assert_eq!(read_limited(&h, chunks(&[]), 3).await, Ok(Bytes::new()));
        assert_eq!(read_limited(&h, chunks(&[b"ab", b"cd"]), 3).await, Err(BodyError::TooLarge));
        let mut declared = HeaderMap::new();
        declared.insert(CONTENT_LENGTH, HeaderValue::from_static("100"));
        assert_eq!(read_limited(&declared, chunks(&[b"a"]), 10).await, Err(BodyError::TooLarge));
    }
}
