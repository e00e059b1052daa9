//! A small pool of long-lived HTTP/2 connections to one origin.
//!
//! hyper's pooled client keeps a single HTTP/2 connection per origin, but a
//! server caps the streams per connection (APNs announces about 1000), so
//! throughput needs several. Connections are opened lazily, kept open (Apple
//! treats connect churn as abuse), and replaced when they close or GOAWAY.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};
use tokio_rustls::TlsConnector;

use crate::metrics::{self, Provider};

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("endpoint {0} is not an https URL with a host")]
    BadEndpoint(String),
    #[error("cannot connect to {origin}: {message}")]
    Connect { origin: String, message: String },
    #[error("request failed: {0}")]
    Request(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub connections: usize,
    pub max_in_flight: usize,
    pub request_timeout: Duration,
}

pub struct H2Pool {
    host: String,
    port: u16,
    origin: String,
    tls: TlsConnector,
    slots: Vec<Mutex<Option<SendRequest<Full<Bytes>>>>>,
    next: AtomicUsize,
    in_flight: Arc<Semaphore>,
    timeout: Duration,
    /// Whose latency this pool's requests are (none: not measured).
    provider: Option<Provider>,
}

impl H2Pool {
    pub fn new(endpoint: &str, tls: Arc<rustls::ClientConfig>, options: &PoolOptions) -> Result<Self, TransportError> {
        let uri: Uri = endpoint.parse().map_err(|_| TransportError::BadEndpoint(endpoint.into()))?;
        if uri.scheme_str() != Some("https") {
            return Err(TransportError::BadEndpoint(endpoint.into()));
        }
        let host = uri.host().ok_or_else(|| TransportError::BadEndpoint(endpoint.into()))?.to_owned();
        let port = uri.port_u16().unwrap_or(443);
        Ok(Self {
            origin: format!("https://{host}:{port}"),
            host,
            port,
            tls: TlsConnector::from(tls),
            slots: (0..options.connections.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            in_flight: Arc::new(Semaphore::new(options.max_in_flight.max(1))),
            timeout: options.request_timeout,
            provider: None,
        })
    }

    /// Publishes each request's latency as `provider`'s.
    pub fn for_provider(mut self, provider: Provider) -> Self {
        self.provider = Some(provider);
        self
    }

    /// `https://host:port`, for building request URIs.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Sends one request and reads the whole (small) answer.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Result<Response<Bytes>, TransportError> {
        let _permit = self.in_flight.acquire().await.map_err(|e| TransportError::Request(e.to_string()))?;
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut sender = self.sender(slot).await?;
        // From here on the time is the provider's (and the network's), not
        // this process's queue for a permit or a connection.
        let started = Instant::now();
        let work = async {
            sender.ready().await.map_err(|e| TransportError::Request(e.to_string()))?;
            let response = sender.send_request(request).await.map_err(|e| TransportError::Request(e.to_string()))?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| TransportError::Request(e.to_string()))?.to_bytes();
            Ok(Response::from_parts(parts, body))
        };
        let result = match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(TransportError::Timeout(self.timeout)),
        };
        if let Some(provider) = self.provider {
            metrics::latency(provider, started.elapsed());
        }
        if result.is_err() && sender.is_closed() {
            let mut guard = self.slots[slot].lock().await;
            if guard.as_ref().is_some_and(SendRequest::is_closed) {
                *guard = None;
            }
        }
        result
    }

    async fn sender(&self, slot: usize) -> Result<SendRequest<Full<Bytes>>, TransportError> {
        let mut guard = self.slots[slot].lock().await;
        if let Some(sender) = guard.as_ref().filter(|s| !s.is_closed()) {
            return Ok(sender.clone());
        }
        let sender = self.connect().await?;
        *guard = Some(sender.clone());
        Ok(sender)
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, TransportError> {
        let fail = |message: String| TransportError::Connect { origin: self.origin.clone(), message };
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| fail(e.to_string()))?;
        tcp.set_nodelay(true).map_err(|e| fail(e.to_string()))?;
        let name = ServerName::try_from(self.host.clone()).map_err(|e| fail(e.to_string()))?;
        let tls = self.tls.connect(name, tcp).await.map_err(|e| fail(e.to_string()))?;
        let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(60))
            .keep_alive_while_idle(true)
            .initial_stream_window_size(1 << 20)
            .initial_connection_window_size(4 << 20)
            .handshake(TokioIo::new(Unvectored(tls)))
            .await
            .map_err(|e| fail(e.to_string()))?;
        let origin = self.origin.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(origin, error = %e, "push connection closed");
            }
        });
        Ok(sender)
    }
}

/// Reports non-vectored writes so that h2 coalesces frames into its buffer
/// instead of flushing one `writev` per request: measured here (see
/// perf-notes) at about 25x fewer syscalls and 40% more requests per second.
struct Unvectored<T>(T);

impl<T: AsyncRead + Unpin> AsyncRead for Unvectored<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Unvectored<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
    fn is_write_vectored(&self) -> bool {
        false
    }
}
