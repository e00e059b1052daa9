//! The event an HTTP API sends to a Lambda proxy integration, payload
//! format 2.0 ("Working with AWS Lambda proxy integrations for HTTP APIs"):
//! lower-case headers with repeats joined by commas, cookies in their own
//! list, decoded query and path parameters, the request context with the
//! authorizer's output, and the body as text or, when it is not text,
//! base64. Fields API Gateway leaves out when empty are left out.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use http::header::{CONTENT_TYPE, COOKIE, HOST};
use serde::Serialize;

use super::sigv4::IamContext;
use crate::http::{query_pairs, strip_hop_by_hop};

/// The request as the gateway received it.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub method: &'a str,
    /// Still percent-encoded, as sent.
    pub raw_path: &'a str,
    /// Without the `?`; empty when there is none.
    pub raw_query: &'a str,
    pub protocol: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub source_ip: &'a str,
    pub listen_port: u16,
}

/// What the gateway decided about it.
#[derive(Debug, Clone)]
pub struct Routed<'a> {
    pub route_key: &'a str,
    pub path_parameters: BTreeMap<String, String>,
    pub api_id: &'a str,
    pub account_id: &'a str,
    pub request_id: &'a str,
    pub trace_id: &'a str,
    pub time: SystemTime,
    pub authorizer: Option<Authorizer>,
}

/// `requestContext.authorizer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Authorizer {
    Jwt { claims: BTreeMap<String, String>, scopes: Option<Vec<String>> },
    Iam(IamContext),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    version: &'static str,
    route_key: String,
    raw_path: String,
    raw_query_string: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cookies: Option<Vec<String>>,
    headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query_string_parameters: Option<BTreeMap<String, String>>,
    request_context: RequestContext,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_parameters: Option<BTreeMap<String, String>>,
    is_base64_encoded: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestContext {
    account_id: String,
    api_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorizer: Option<Authorizer>,
    domain_name: String,
    domain_prefix: String,
    http: Http,
    request_id: String,
    route_key: String,
    stage: &'static str,
    time: String,
    time_epoch: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Http {
    method: String,
    path: String,
    protocol: String,
    source_ip: String,
    user_agent: String,
}

pub fn build(received: Received<'_>, routed: Routed<'_>) -> Event {
    let headers = event_headers(received, routed.trace_id);
    let host = headers.get(HOST.as_str()).map_or("", String::as_str);
    // API Gateway's domain names carry no port.
    let domain_name = host.rsplit_once(':').map_or(host, |(name, _)| name).to_owned();
    let domain_prefix = domain_name.split('.').next().unwrap_or_default().to_owned();
    let (body, is_base64_encoded) = body(received);
    let time: DateTime<Utc> = routed.time.into();
    let time_epoch = routed.time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    Event {
        version: "2.0",
        route_key: routed.route_key.to_owned(),
        raw_path: received.raw_path.to_owned(),
        raw_query_string: received.raw_query.to_owned(),
        cookies: cookies(received.headers),
        query_string_parameters: query_parameters(received.raw_query),
        request_context: RequestContext {
            account_id: routed.account_id.to_owned(),
            api_id: routed.api_id.to_owned(),
            authorizer: routed.authorizer,
            domain_name,
            domain_prefix,
            http: Http {
                method: received.method.to_owned(),
                path: received.raw_path.to_owned(),
                protocol: received.protocol.to_owned(),
                source_ip: received.source_ip.to_owned(),
                user_agent: headers.get("user-agent").cloned().unwrap_or_default(),
            },
            request_id: routed.request_id.to_owned(),
            route_key: routed.route_key.to_owned(),
            stage: "$default",
            time: time.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            time_epoch,
        },
        headers,
        body,
        path_parameters: (!routed.path_parameters.is_empty()).then_some(routed.path_parameters),
        is_base64_encoded,
    }
}

/// Lower-case names, repeats joined by commas, cookies moved to `cookies`,
/// this hop's connection headers dropped, and the headers API Gateway adds.
fn event_headers(received: Received<'_>, trace_id: &str) -> BTreeMap<String, String> {
    let mut headers = received.headers.clone();
    strip_hop_by_hop(&mut headers);
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &headers {
        if name == COOKIE {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes());
        out.entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    let forwarded = match out.remove("x-forwarded-for") {
        Some(earlier) => format!("{earlier}, {}", received.source_ip),
        None => received.source_ip.to_owned(),
    };
    out.insert("x-forwarded-for".into(), forwarded);
    out.insert("x-forwarded-port".into(), received.listen_port.to_string());
    // The local listener speaks plain HTTP; saying https would make
    // functions build links that do not work.
    out.insert("x-forwarded-proto".into(), "http".into());
    out.entry("x-amzn-trace-id".into()).or_insert_with(|| trace_id.to_owned());
    out
}

fn cookies(headers: &HeaderMap) -> Option<Vec<String>> {
    let cookies: Vec<String> = headers
        .get_all(COOKIE)
        .iter()
        .flat_map(|v| String::from_utf8_lossy(v.as_bytes()).split(';').map(|c| c.trim().to_owned()).collect::<Vec<_>>())
        .filter(|c| !c.is_empty())
        .collect();
    (!cookies.is_empty()).then_some(cookies)
}

fn query_parameters(raw_query: &str) -> Option<BTreeMap<String, String>> {
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in query_pairs(Some(raw_query)) {
        params
            .entry(key)
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    (!params.is_empty()).then_some(params)
}

/// Text travels as text only for `text/*` and JSON, XML and JavaScript;
/// everything else, form posts and bodies without a content type included,
/// is base64-encoded. AWS does not list the types; this is the split
/// observed on HTTP APIs.
fn body(received: Received<'_>) -> (Option<String>, bool) {
    if received.body.is_empty() {
        return (None, false);
    }
    let essence = received
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
    let text = essence.is_some_and(|t| {
        t.starts_with("text/")
            || matches!(t.as_str(), "application/json" | "application/xml" | "application/javascript")
    });
    match std::str::from_utf8(received.body) {
        Ok(s) if text => (Some(s.to_owned()), false),
        _ => (Some(STANDARD.encode(received.body)), true),
    }
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
