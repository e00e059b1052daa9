//! Building responses, and the request facts every route needs.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};

use crate::settings::Settings;

/// An HTML page with a status code.
pub fn html(status: StatusCode, page: String) -> Response<Body> {
    let mut r = Response::new(Body::Text(page));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    // Pages carry request details and signed links: never cache them, never
    // leak the link in a Referer, never frame them.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self' http: https:; base-uri 'none'; frame-ancestors 'none'"),
    );
    r
}

/// `Referrer-Policy: same-origin` instead of `no-referrer`, for a page whose
/// own URL is no credential (the status page): browsers then send its
/// origin with the page's own POSTs, which the Stop button's same-origin
/// check reads, and still nothing to other sites. Under `no-referrer` they
/// send `Origin: null`.
pub fn same_origin_referrer(mut r: Response<Body>) -> Response<Body> {
    r.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    r
}

/// 303 See Other: after a POST, the browser GETs the result.
pub fn see_other(location: &str) -> Response<Body> {
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The absolute base of links for this request. `{host}` in the setting is
/// filled from the Host header (local stacks, whose port is chosen at start).
pub fn base_url(settings: &Settings, request: &Request) -> String {
    let base = &settings.public_base_url;
    if !base.contains("{host}") {
        return base.clone();
    }
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b':' | b'-' | b'[' | b']')))
        .unwrap_or("127.0.0.1");
    base.replace("{host}", host)
}

/// The body's bytes, whatever form the runtime delivered them in.
pub fn body_bytes(request: &Request) -> &[u8] {
    match request.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}
