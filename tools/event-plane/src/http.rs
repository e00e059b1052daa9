//! Body and client types shared by both listeners, plus small HTTP helpers.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One body type for everything: streamed pass-through bodies and small
/// generated ones. Unsync because hyper's `Incoming` is what streams through.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

pub type HttpClient = Client<HttpConnector, Body>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// Wraps a hyper body without reading it, so large objects flow chunk by chunk.
pub fn streamed(body: Incoming) -> Body {
    body.map_err(|e| Box::new(e) as BoxError).boxed_unsync()
}

pub fn new_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(10)));
    Client::builder(TokioExecutor::new())
        // Upstreams (moto, cargo lambda watch) drop idle connections on their own
        // schedule; a short idle timeout keeps us from reusing a dead one.
        .pool_idle_timeout(Duration::from_secs(20))
        .build(connector)
}

pub fn json_response(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(bytes) => with_content_type(status, "application/json", bytes),
        Err(e) => {
            with_content_type(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("serialising response: {e}"))
        }
    }
}

pub fn with_content_type(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

pub fn status_only(status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(empty());
    *resp.status_mut() = status;
    resp
}

/// Headers that describe one hop of the connection rather than the message.
/// Hyper re-frames bodies itself, so forwarding these would contradict it.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named_by_connection: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named_by_connection.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
}

/// Joins an upstream base (`http://host:port[/prefix]`) with a request's
/// path-and-query, keeping the latter's percent-encoding byte for byte.
pub fn upstream_uri(base: &Uri, path_and_query: &str) -> Result<Uri, http::Error> {
    let prefix = base.path().trim_end_matches('/');
    let mut builder = Uri::builder();
    if let Some(scheme) = base.scheme() {
        builder = builder.scheme(scheme.clone());
    }
    if let Some(authority) = base.authority() {
        builder = builder.authority(authority.clone());
    }
    builder.path_and_query(format!("{prefix}{path_and_query}")).build()
}

/// Decoded `key=value` pairs of a query string (form encoding: `+` is a space).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_uri_keeps_encoding_and_prefix() {
        let base: Uri = "http://127.0.0.1:9000".parse().unwrap();
        let uri = upstream_uri(&base, "/b/a%20b%2Bc?x-id=PutObject").unwrap();
        assert_eq!(uri.to_string(), "http://127.0.0.1:9000/b/a%20b%2Bc?x-id=PutObject");

        let base: Uri = "http://127.0.0.1:9000/s3/".parse().unwrap();
        let uri = upstream_uri(&base, "/b/k").unwrap();
        assert_eq!(uri.to_string(), "http://127.0.0.1:9000/s3/b/k");
    }

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-hop"));
        h.insert("x-hop", HeaderValue::from_static("1"));
        h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:1"));
        h.insert("x-amz-date", HeaderValue::from_static("20240101T000000Z"));
        strip_hop_by_hop(&mut h);
        assert!(h.get("x-hop").is_none());
        assert!(h.get(header::TRANSFER_ENCODING).is_none());
        assert!(h.get(header::CONNECTION).is_none());
        assert_eq!(h.get(header::HOST).unwrap(), "127.0.0.1:1");
        assert!(h.get("x-amz-date").is_some());
    }

    #[test]
    fn query_pairs_decode() {
        let pairs = query_pairs(Some("bucket=b&key=a%20b+c&uploadId"));
        assert_eq!(
            pairs,
            vec![("bucket".into(), "b".into()), ("key".into(), "a b c".into()), ("uploadId".into(), "".into())]
        );
    }
}
