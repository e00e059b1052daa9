//! The S3 listener: a streaming reverse proxy in front of the S3 emulator
//! that raises ObjectCreated notifications for successful writes.

use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{EXPECT, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;

use crate::delivery::error_chain;
use crate::http::{Body, HttpClient, streamed, strip_hop_by_hop, upstream_uri, with_content_type};
use crate::s3_notify::{CreatedRequest, Notifier};
use crate::s3_request::{classify, parse_object_path};

pub struct S3Proxy {
    pub upstream: Uri,
    pub client: HttpClient,
    pub notifier: Arc<Notifier>,
}

impl S3Proxy {
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let created = classify(req.method(), req.uri().query(), req.headers())
            .and_then(|kind| parse_object_path(req.uri().path()).map(|p| (kind, p)));
        let path_and_query = req.uri().path_and_query().map_or("/", |pq| pq.as_str()).to_owned();
        let uri = match upstream_uri(&self.upstream, &path_and_query) {
            Ok(uri) => uri,
            Err(e) => return s3_error(StatusCode::BAD_REQUEST, "InvalidURI", &e.to_string()),
        };

        let (mut parts, body) = req.into_parts();
        parts.uri = uri;
        parts.version = Version::HTTP_11;
        // Host stays as the client sent it: SigV4 signed it.
        strip_hop_by_hop(&mut parts.headers);
        // Our server already answered any 100-continue; the body is flowing.
        parts.headers.remove(EXPECT);
        let method = parts.method.clone();
        let upstream_request = Request::from_parts(parts, streamed(body));

        let response = match self.client.request(upstream_request).await {
            Ok(r) => r,
            Err(e) => {
                let detail = error_chain(&e);
                tracing::warn!(%method, path = %path_and_query, error = %detail, "S3 upstream unreachable");
                return s3_error(StatusCode::BAD_GATEWAY, "BadGateway", &detail);
            }
        };

        if response.status().is_success()
            && let Some((created_by, object)) = created
        {
            let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let request = CreatedRequest {
                bucket: object.bucket,
                key: object.key,
                created_by,
                source_ip: peer.ip().to_string(),
                request_id: header("x-amz-request-id"),
                host_id: header("x-amz-id-2"),
            };
            let notifier = Arc::clone(&self.notifier);
            // The client gets its answer without waiting for the HEAD and the
            // queueing, as with S3, where notification is asynchronous.
            tokio::spawn(async move {
                let (bucket, key) = (request.bucket.clone(), request.key.clone());
                if let Err(e) = notifier.object_created(request).await {
                    tracing::warn!(%bucket, %key, error = %e, "no S3 event sent");
                }
            });
        }

        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Response::from_parts(parts, streamed(body))
    }
}

fn s3_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>event-plane: {}</Message></Error>",
        xml_escape(message)
    );
    let mut resp = with_content_type(status, "application/xml", body);
    resp.headers_mut().insert("x-event-plane-error", HeaderValue::from_static("1"));
    resp
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
