//! Routes a request to its page. The routes are the same in API Gateway
//! and under `cargo lambda watch`, which serves a function at
//! `/lambda-url/<name>/…`: that prefix is dropped first.
//!
//! Every page but an approver's link is for signed-in staff: without the
//! authorizer's claims it answers 401 before reading anything.

use lambda_http::http::{Method, StatusCode, header};
use lambda_http::{Body, Request, Response};

use crate::deps::Ports;
use crate::html::message;
use crate::identity::{self, Caller};
use crate::reply::{base_url, html, see_other};
use crate::urls::Urls;
use crate::{links, status, stop, submit};

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

/// What a path and method ask for.
enum Route<'a> {
    /// A page for signed-in staff.
    Staff(StaffRoute<'a>),
    ConfirmLink {
        id: &'a str,
        token: &'a str,
    },
    ActOnLink {
        id: &'a str,
        token: &'a str,
    },
    NotAllowed(&'static str),
    NotFound,
}

enum StaffRoute<'a> {
    Home,
    NewForm,
    Submit,
    Status(&'a str),
    Stop(&'a str),
}

fn route<'a>(segments: &[&'a str], method: &Method) -> Route<'a> {
    let m = method.clone();
    match (segments, m) {
        ([], Method::GET) | (["requests"], Method::GET) => Route::Staff(StaffRoute::Home),
        (["requests", "new"], Method::GET) => Route::Staff(StaffRoute::NewForm),
        (["requests", "new"], _) => Route::NotAllowed("GET"),
        (["requests"], Method::POST) => Route::Staff(StaffRoute::Submit),
        ([], _) | (["requests"], _) => Route::NotAllowed("GET"),
        (["requests", id], Method::GET) if is_request_id(id) => Route::Staff(StaffRoute::Status(id)),
        (["requests", id], _) if is_request_id(id) => Route::NotAllowed("GET"),
        (["requests", id, "stop"], Method::POST) if is_request_id(id) => Route::Staff(StaffRoute::Stop(id)),
        (["requests", id, "stop"], _) if is_request_id(id) => Route::NotAllowed("POST"),
        (["requests", id, "links", token], Method::GET) if is_request_id(id) => Route::ConfirmLink { id, token },
        (["requests", id, "links", token], Method::POST) if is_request_id(id) => Route::ActOnLink { id, token },
        (["requests", id, "links", _], _) if is_request_id(id) => Route::NotAllowed("GET, POST"),
        _ => Route::NotFound,
    }
}

pub async fn handle<P: Ports>(p: &P, request: Request) -> Response<Body> {
    let urls = Urls { base: base_url(p.settings(), &request) };
    let path = request.uri().path();
    let path = path.strip_prefix(LOCAL_PREFIX).unwrap_or(path);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    tracing::info!(method = %request.method(), route = route_name(&segments), "request");
    match route(&segments, request.method()) {
        Route::Staff(page) => match identity::caller(&request) {
            Some(caller) => staff(p, &request, &urls, &caller, page).await,
            None => identity::unauthorized(),
        },
        Route::ConfirmLink { id, token } => links::confirm(p, id, token, &urls).await,
        Route::ActOnLink { id, token } => links::act(p, &request, id, token, &urls).await,
        Route::NotAllowed(allow) => method_not_allowed(allow),
        Route::NotFound => not_found(),
    }
}

async fn staff<P: Ports>(
    p: &P,
    request: &Request,
    urls: &Urls,
    caller: &Caller,
    page: StaffRoute<'_>,
) -> Response<Body> {
    match page {
        StaffRoute::Home => see_other(&urls.new_form()),
        StaffRoute::NewForm => submit::new_form(p, urls, caller),
        StaffRoute::Submit => submit::submit(p, request, urls, caller).await,
        StaffRoute::Status(id) => status::show(p, id, request.uri().query(), caller, urls).await,
        StaffRoute::Stop(id) => stop::stop(p, request, id, caller, urls).await,
    }
}

/// The route without ids or tokens, for logs (a token is a credential).
fn route_name(segments: &[&str]) -> &'static str {
    match segments {
        [] => "/",
        ["requests"] => "/requests",
        ["requests", "new"] => "/requests/new",
        ["requests", _] => "/requests/{id}",
        ["requests", _, "stop"] => "/requests/{id}/stop",
        ["requests", _, "links", _] => "/requests/{id}/links/{token}",
        _ => "other",
    }
}
