//! The Lambda listener: the Invoke API with asynchronous semantics for
//! `Event`, pass-through for `RequestResponse`, and the `/_plane/*` hooks.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{EXPECT, HOST, HeaderValue};
use http::{Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use serde_json::json;

use crate::delivery::{error_chain, invoke_path};
use crate::function_name::plain_function_name;
use crate::http::{
    Body, HttpClient, json_response, query_pairs, status_only, streamed, strip_hop_by_hop, upstream_uri,
};
use crate::queue::{Job, Queue};
use crate::s3_notify::Notifier;
use crate::scheduler::Scheduler;
use crate::stats::{Source, Stats};

/// Lambda's limit for an asynchronous invocation's payload (1 MB since 2025).
pub const MAX_ASYNC_PAYLOAD: usize = 1024 * 1024;

const REQUEST_ID: &str = "x-amzn-requestid";

pub struct LambdaApi {
    pub upstream: Uri,
    pub client: HttpClient,
    pub queue: Arc<Queue>,
    pub stats: Arc<Stats>,
    pub notifier: Arc<Notifier>,
    /// Reported by `/_plane/health`, so a health check can tell that the
    /// gateway and issuer on its ports are this plane's.
    pub gateway: Option<SocketAddr>,
    pub issuer: Option<String>,
    /// EventBridge Scheduler's API shares this listener.
    pub scheduler: Arc<Scheduler>,
}

impl LambdaApi {
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
        let path = req.uri().path().to_owned();
        if Scheduler::serves(&path) {
            return self.schedule(req).await;
        }
        match (req.method(), path.as_str()) {
            (&Method::GET, "/_plane/health") => json_response(
                StatusCode::OK,
                &json!({"status": "ok", "gateway": self.gateway.map(|a| a.to_string()), "issuer": self.issuer}),
            ),
            (&Method::GET, "/_plane/stats") => {
                let counts = self.queue.counts();
                json_response(StatusCode::OK, &self.stats.snapshot(counts.queued, counts.in_flight, counts.paused))
            }
            (&Method::GET, "/_plane/invocations") => json_response(StatusCode::OK, &self.stats.invocations()),
            (&Method::POST, "/_plane/pause") => {
                self.queue.pause();
                tracing::info!("queue paused");
                json_response(StatusCode::OK, &json!({"paused": true}))
            }
            (&Method::POST, "/_plane/resume") => {
                self.queue.resume();
                tracing::info!("queue resumed");
                json_response(StatusCode::OK, &json!({"paused": false}))
            }
            (&Method::POST, "/_plane/redeliver-s3") => self.redeliver(req.uri().query()),
            (&Method::POST, _) => match invoke_segment(&path) {
                Some(segment) => self.invoke(segment.to_owned(), req).await,
                None => unknown_operation(&path),
            },
            _ => unknown_operation(&path),
        }
    }

    async fn schedule(&self, req: Request<Incoming>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_ASYNC_PAYLOAD).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                return lambda_error(StatusCode::BAD_REQUEST, "ValidationException", &format!("reading the body: {e}"));
            }
        };
        self.scheduler.handle(&parts.method, parts.uri.path(), parts.uri.query(), &body)
    }

    fn redeliver(&self, query: Option<&str>) -> Response<Body> {
        let pairs = query_pairs(query);
        let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let (Some(bucket), Some(key)) = (get("bucket"), get("key")) else {
            return json_response(StatusCode::BAD_REQUEST, &json!({"message": "redeliver-s3 needs ?bucket=B&key=K"}));
        };
        let count = self.notifier.redeliver(bucket, key);
        if count == 0 {
            return json_response(
                StatusCode::NOT_FOUND,
                &json!({"message": "no S3 event was built for that object", "bucket": bucket, "key": key}),
            );
        }
        tracing::info!(%bucket, %key, count, "s3 event redelivered");
        json_response(StatusCode::OK, &json!({"redelivered": count}))
    }

    async fn invoke(&self, segment: String, req: Request<Incoming>) -> Response<Body> {
        let Some(function) = plain_function_name(&segment) else {
            return lambda_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                &format!("{segment:?} is not a function name or ARN"),
            );
        };
        let invocation_type =
            req.headers().get("x-amz-invocation-type").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        match invocation_type.as_deref() {
            Some("Event") => self.invoke_async(function, req).await,
            Some("DryRun") => with_request_id(status_only(StatusCode::NO_CONTENT), &new_request_id()),
            None | Some("RequestResponse") => self.invoke_sync(&function, req).await,
            Some(other) => lambda_error(
                StatusCode::BAD_REQUEST,
                "InvalidParameterValueException",
                &format!("unknown invocation type {other:?}"),
            ),
        }
    }

    async fn invoke_async(&self, function: String, req: Request<Incoming>) -> Response<Body> {
        let payload: Bytes = match Limited::new(req.into_body(), MAX_ASYNC_PAYLOAD).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<LengthLimitError>() => {
                return lambda_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "RequestEntityTooLargeException",
                    &format!("asynchronous payloads are limited to {MAX_ASYNC_PAYLOAD} bytes"),
                );
            }
            Err(e) => {
                return lambda_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContentException",
                    &format!("reading the request body: {e}"),
                );
            }
        };
        let id = new_request_id();
        tracing::debug!(%id, %function, bytes = payload.len(), "async invocation accepted");
        self.queue.push(Job { id: id.clone(), function, payload, source: Source::Invoke, attempts_made: 0 });
        with_request_id(status_only(StatusCode::ACCEPTED), &id)
    }

    async fn invoke_sync(&self, function: &str, req: Request<Incoming>) -> Response<Body> {
        let uri = match upstream_uri(&self.upstream, &invoke_path(function)) {
            Ok(uri) => uri,
            Err(e) => {
                return lambda_error(StatusCode::BAD_REQUEST, "InvalidParameterValueException", &e.to_string());
            }
        };
        let (mut parts, body) = req.into_parts();
        parts.uri = uri;
        parts.version = Version::HTTP_11;
        strip_hop_by_hop(&mut parts.headers);
        parts.headers.remove(HOST);
        parts.headers.remove(EXPECT);
        self.stats.record_sync_forward();
        match self.client.request(Request::from_parts(parts, streamed(body))).await {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, streamed(body))
            }
            Err(e) => {
                let detail = error_chain(&e);
                tracing::warn!(%function, error = %detail, "synchronous invoke: upstream failed");
                lambda_error(StatusCode::BAD_GATEWAY, "ServiceException", &detail)
            }
        }
    }
}

/// `{FunctionName}` out of `/2015-03-31/functions/{FunctionName}/invocations`.
fn invoke_segment(path: &str) -> Option<&str> {
    path.strip_prefix("/2015-03-31/functions/")?
        .strip_suffix("/invocations")
        .filter(|segment| !segment.is_empty() && !segment.contains('/'))
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn with_request_id(mut resp: Response<Body>, id: &str) -> Response<Body> {
    if let Ok(value) = HeaderValue::from_str(id) {
        resp.headers_mut().insert(REQUEST_ID, value);
    }
    resp
}

/// Errors shaped like Lambda's, so SDK clients surface the type and message.
fn lambda_error(status: StatusCode, error_type: &'static str, message: &str) -> Response<Body> {
    let mut resp = json_response(status, &json!({"Type": "User", "message": message}));
    resp.headers_mut().insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    with_request_id(resp, &new_request_id())
}

fn unknown_operation(path: &str) -> Response<Body> {
    lambda_error(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        &format!("event-plane implements only Invoke (POST /2015-03-31/functions/{{name}}/invocations), not {path}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_segment_matches_only_invoke() {
        assert_eq!(invoke_segment("/2015-03-31/functions/f/invocations"), Some("f"));
        assert_eq!(invoke_segment("/2015-03-31/functions/f/configuration"), None);
        assert_eq!(invoke_segment("/2015-03-31/functions//invocations"), None);
        assert_eq!(invoke_segment("/2015-03-31/functions/a/b/invocations"), None);
        assert_eq!(invoke_segment("/2014-11-13/functions/f/invoke-async/"), None);
    }
}
