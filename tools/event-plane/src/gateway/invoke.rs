//! The gateway's synchronous Invoke of a function on the Lambda upstream
//! (`cargo lambda watch`), as an HTTP API's Lambda integration makes it.

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Request, Uri};
use http_body_util::{BodyExt, Limited};

use crate::delivery::{error_chain, invoke_path};
use crate::http::{HttpClient, full, upstream_uri};

/// Lambda's limit for a synchronous response payload.
const MAX_RESPONSE: usize = 6 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("building the Invoke request: {0}")]
    Build(#[source] http::Error),
    #[error("the Lambda upstream failed: {0}")]
    Upstream(String),
    #[error("the Lambda upstream answered HTTP {status}: {detail}")]
    Status { status: u16, detail: String },
    #[error("the function failed ({kind}): {detail}")]
    Function { kind: String, detail: String },
    #[error("no answer within {} s", .0.as_secs())]
    Timeout(Duration),
}

pub async fn invoke(
    client: &HttpClient,
    upstream: &Uri,
    function: &str,
    payload: Bytes,
    timeout: Duration,
) -> Result<Bytes, InvokeError> {
    let uri = upstream_uri(upstream, &invoke_path(function)).map_err(InvokeError::Build)?;
    let request = Request::post(uri)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header("x-amz-invocation-type", "RequestResponse")
        .body(full(payload))
        .map_err(InvokeError::Build)?;
    let call = async {
        let response = client.request(request).await.map_err(|e| InvokeError::Upstream(error_chain(&e)))?;
        let status = response.status();
        let function_error =
            response.headers().get("x-amz-function-error").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let body = Limited::new(response.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| InvokeError::Upstream(format!("reading the answer: {}", error_chain(e.as_ref()))))?
            .to_bytes();
        let detail = || String::from_utf8_lossy(&body[..body.len().min(4096)]).into_owned();
        if let Some(kind) = function_error {
            return Err(InvokeError::Function { kind, detail: detail() });
        }
        if !status.is_success() {
            return Err(InvokeError::Status { status: status.as_u16(), detail: detail() });
        }
        Ok(body)
    };
    tokio::time::timeout(timeout, call).await.map_err(|_| InvokeError::Timeout(timeout))?
}
