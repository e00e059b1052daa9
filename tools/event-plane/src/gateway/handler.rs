//! The gateway listener: what an HTTP API does with each request. Pick the
//! route (404 without one), run its authorizer (JWT: 401/403; IAM: 403),
//! build the payload 2.0 event, invoke the function synchronously on the
//! Lambda upstream, and turn its answer back into HTTP (500 when the function
//! fails or answers nonsense, 503 when it takes longer than the integration
//! timeout).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::HeaderValue;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;

use super::answers::{insufficient_scope, message, unauthorized};
use super::apis::{Apis, AuthKind, Found, LOCAL_ISSUER};
use super::claims::{event_scopes, render_claims};
use super::event::{self, Authorizer, Received, Routed};
use super::invoke::{InvokeError, invoke};
use super::jwks::IssuerKeys;
use super::jwt::{self, Expect, Refusal};
use super::response::from_function_output;
use super::sigv4::IamVerifier;
use crate::clock::Clock;
use crate::http::{Body, HttpClient, full};

/// An HTTP API's largest request payload.
pub const MAX_REQUEST_BODY: usize = 10 * 1024 * 1024;
/// An HTTP API's integration timeout (its maximum, 30 s, is the default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("API {api:?} uses the local issuer, but the plane runs none (--issuer-listen)")]
    NoLocalIssuer { api: String },
}

#[derive(Debug)]
pub struct Gateway {
    apis: Apis,
    /// Keys per issuer URL, shared by the APIs that trust it.
    issuers: HashMap<String, IssuerKeys>,
    local_issuer: Option<String>,
    iam: Option<IamVerifier>,
    client: HttpClient,
    upstream: Uri,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    account_id: String,
    listen_port: u16,
}

/// Everything the gateway needs besides the routes.
#[derive(Debug)]
pub struct Wiring {
    pub local_issuer: Option<String>,
    pub iam: Option<IamVerifier>,
    pub client: HttpClient,
    pub upstream: Uri,
    pub timeout: Duration,
    pub clock: Arc<dyn Clock>,
    pub account_id: String,
    pub listen_port: u16,
}

impl Gateway {
    pub fn new(apis: Apis, wiring: Wiring) -> Result<Gateway, GatewayError> {
        let mut issuers = HashMap::new();
        for api in &apis.apis {
            let Some(jwt) = &api.jwt else { continue };
            let url = if jwt.issuer == LOCAL_ISSUER {
                wiring.local_issuer.clone().ok_or_else(|| GatewayError::NoLocalIssuer { api: api.name.clone() })?
            } else {
                jwt.issuer.clone()
            };
            issuers
                .entry(url.clone())
                .or_insert_with(|| IssuerKeys::new(url, wiring.client.clone(), Arc::clone(&wiring.clock)));
        }
        let Wiring { local_issuer, iam, client, upstream, timeout, clock, account_id, listen_port } = wiring;
        Ok(Gateway { apis, issuers, local_issuer, iam, client, upstream, timeout, clock, account_id, listen_port })
    }

    pub async fn handle(self: Arc<Self>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let started = Instant::now();
        let ids = uuid::Uuid::new_v4();
        let request_id = STANDARD.encode(&ids.as_bytes()[..11]);
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        let (mut response, route) = self.respond(req, peer, &request_id, ids.as_bytes()).await;
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("apigw-requestid", value);
        }
        tracing::info!(
            request_id = %request_id,
            method = %method,
            path = %path,
            route = route.as_deref(),
            status = response.status().as_u16(),
            duration_ms = started.elapsed().as_millis() as u64,
            "gateway"
        );
        response
    }

    async fn respond(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        request_id: &str,
        random: &[u8; 16],
    ) -> (Response<Body>, Option<String>) {
        let (parts, body) = req.into_parts();
        let body: Bytes = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<LengthLimitError>() => return (message(StatusCode::PAYLOAD_TOO_LARGE), None),
            Err(e) => {
                tracing::debug!(error = %e, "reading the request body failed");
                return (message(StatusCode::BAD_REQUEST), None);
            }
        };
        let Some(found) = self.apis.find(parts.method.as_str(), parts.uri.path()) else {
            return (message(StatusCode::NOT_FOUND), None);
        };
        let route_key = found.route.key_text.clone();
        let authorizer = match self.authorize(&found, &parts, &body).await {
            Ok(authorizer) => authorizer,
            Err(response) => return (response, Some(route_key)),
        };
        let now = self.clock.now();
        let epoch = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let trace_id = format!("Root=1-{epoch:08x}-{}", hex(&random[4..16]));
        let source_ip = peer.ip().to_string();
        let received = Received {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query().unwrap_or_default(),
            protocol: protocol(parts.version),
            headers: &parts.headers,
            body: &body,
            source_ip: &source_ip,
            listen_port: self.listen_port,
        };
        let routed = Routed {
            route_key: &route_key,
            path_parameters: found.path_parameters,
            api_id: &found.api.api_id,
            account_id: &self.account_id,
            request_id,
            trace_id: &trace_id,
            time: now,
            authorizer,
        };
        let payload = match serde_json::to_vec(&event::build(received, routed)) {
            Ok(payload) => Bytes::from(payload),
            Err(e) => {
                tracing::error!(error = %e, "serialising the event failed");
                return (message(StatusCode::INTERNAL_SERVER_ERROR), Some(route_key));
            }
        };
        let function = &found.route.function;
        let output = match invoke(&self.client, &self.upstream, function, payload, self.timeout).await {
            Ok(output) => output,
            Err(e) => {
                tracing::warn!(%function, route = %route_key, error = %e, "integration failed");
                let status = match e {
                    InvokeError::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                return (message(status), Some(route_key));
            }
        };
        let response = match from_function_output(&output) {
            Ok(answer) => {
                let mut response = Response::new(full(answer.body));
                *response.status_mut() = answer.status;
                *response.headers_mut() = answer.headers;
                response
            }
            Err(e) => {
                tracing::warn!(%function, route = %route_key, error = %e, "the function's answer is not a response");
                message(StatusCode::INTERNAL_SERVER_ERROR)
            }
        };
        (response, Some(route_key))
    }

    /// The authorizer's output for the event, or the answer that refuses.
    async fn authorize(
        &self,
        found: &Found<'_>,
        parts: &http::request::Parts,
        body: &[u8],
    ) -> Result<Option<Authorizer>, Response<Body>> {
        match found.route.auth {
            AuthKind::None => Ok(None),
            AuthKind::Iam => {
                let Some(iam) = &self.iam else {
                    tracing::warn!("IAM route called, but the plane has no credentials to check signatures with");
                    return Err(message(StatusCode::FORBIDDEN));
                };
                let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
                match iam.verify(parts.method.as_str(), path_and_query, &parts.headers, body, self.clock.now()) {
                    Ok(context) => Ok(Some(Authorizer::Iam(context))),
                    Err(refusal) => {
                        tracing::info!(reason = %refusal, "IAM authorization refused");
                        Err(message(StatusCode::FORBIDDEN))
                    }
                }
            }
            AuthKind::Jwt => {
                let Some((issuer, keys, audiences)) = self.jwt_of(found) else {
                    return Err(message(StatusCode::INTERNAL_SERVER_ERROR));
                };
                let scopes = &found.route.scopes;
                let expect = Expect { issuer, audiences, scopes, now: self.clock.epoch_seconds() };
                match jwt::authorize(&parts.headers, expect, keys).await {
                    Ok(claims) => Ok(Some(Authorizer::Jwt {
                        claims: render_claims(&claims),
                        scopes: event_scopes(scopes, &claims),
                    })),
                    Err(Refusal::Missing) => Err(unauthorized(None)),
                    Err(Refusal::Invalid(text)) => {
                        tracing::info!(reason = %text, "JWT refused");
                        Err(unauthorized(Some(&text)))
                    }
                    Err(Refusal::Scope) => Err(insufficient_scope(scopes)),
                    Err(Refusal::Keys(e)) => {
                        tracing::warn!(error = %e, "the issuer's keys could not be fetched");
                        Err(message(StatusCode::SERVICE_UNAVAILABLE))
                    }
                }
            }
        }
    }

    fn jwt_of<'a>(&'a self, found: &Found<'a>) -> Option<(&'a str, &'a IssuerKeys, &'a [String])> {
        let jwt = found.api.jwt.as_ref()?;
        let url = if jwt.issuer == LOCAL_ISSUER { self.local_issuer.as_deref()? } else { jwt.issuer.as_str() };
        let keys = self.issuers.get(url)?;
        Some((keys.issuer(), keys, jwt.audience.as_slice()))
    }
}

fn protocol(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
