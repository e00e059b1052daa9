//! Routes a request to its page. The routes are the same in API Gateway
//! and under `cargo lambda watch`, which serves a function at
//! `/lambda-url/<name>/…`: that prefix is dropped first.

use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, Response};

use crate::deps::Ports;
use crate::html::message;
use crate::reply::{base_url, html, see_other};
use crate::urls::Urls;
use crate::{links, status, submit};

const LOCAL_PREFIX: &str = "/lambda-url/approval";

/// Request ids are 32 lowercase hex digits; anything else is not a request.
fn is_request_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn not_found() -> Response<Body> {
    html(StatusCode::NOT_FOUND, message("Not found", "bad", "There is no page here.", ""))
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = html(
        StatusCode::METHOD_NOT_ALLOWED,
        message("Not allowed", "bad", "This page does not accept that method.", ""),
    );
    r.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static(allow));
    r
}

pub async fn handle<P: Ports>(p: &P, request: Request) -> Response<Body> {
    let urls = Urls { base: base_url(p.settings(), &request) };
    let path = request.uri().path();
    let path = path.strip_prefix(LOCAL_PREFIX).unwrap_or(path);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let method = request.method().clone();
    tracing::info!(method = %method, route = route_name(&segments), "request");
    match (segments.as_slice(), method) {
        ([], Method::GET) | (["requests"], Method::GET) => see_other(&urls.new_form()),
        (["requests", "new"], Method::GET) => submit::new_form(&urls),
        (["requests", "new"], _) => method_not_allowed("GET"),
        (["requests"], Method::POST) => submit::submit(p, &request, &urls).await,
        (["requests", id], Method::GET) if is_request_id(id) => status::show(p, id, request.uri().query()).await,
        (["requests", id], _) if is_request_id(id) => method_not_allowed("GET"),
        (["requests", id, "links", token], Method::GET) if is_request_id(id) => {
            links::confirm(p, id, token, &urls).await
        }
        (["requests", id, "links", token], Method::POST) if is_request_id(id) => {
            links::act(p, &request, id, token, &urls).await
        }
        (["requests", id, "links", _], _) if is_request_id(id) => method_not_allowed("GET, POST"),
        _ => not_found(),
    }
}

/// The route without ids or tokens, for logs (a token is a credential).
fn route_name(segments: &[&str]) -> &'static str {
    match segments {
        [] => "/",
        ["requests"] => "/requests",
        ["requests", "new"] => "/requests/new",
        ["requests", _] => "/requests/{id}",
        ["requests", _, "links", _] => "/requests/{id}/links/{token}",
        _ => "other",
    }
}
