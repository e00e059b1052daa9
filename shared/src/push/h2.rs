//! A small pool of long-lived HTTP/2 connections to one origin.
//!
//! Servers cap the streams per connection (APNs announces about 1000), so
//! throughput needs several. Connections are opened lazily, kept open (Apple
//! treats connect churn as abuse), pinged while idle, and replaced when they
//! close or GOAWAY.
//!
//! Built on the `h2` crate directly rather than hyper's HTTP/2 client: hyper
//! spawns a task and crosses a channel for every request, which the profile
//! of the send path showed as a large share of its CPU per push (BENCHMARKS.md,
//! "The send path"). A push is one small request and one small answer, so
//! nothing of hyper's body streaming is needed.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as SyncMutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ::h2::client::SendRequest;
use ::h2::{Ping, PingPong, RecvStream};
use bytes::{Bytes, BytesMut};
use http::{Request, Response, Uri};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};
use tokio_rustls::TlsConnector;

use crate::metrics::{self, Provider};

/// An idle connection is pinged this often, so a dead one is found before a
/// request waits on it (what hyper's `keep_alive_interval` did before).
const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(60);
/// A ping unanswered this long closes the connection.
const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// An answer larger than this is not a push provider's: APNs and FCM answer
/// with a few hundred bytes at most.
const MAX_ANSWER_BYTES: usize = 1 << 20;

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

/// One open connection: its request handle, and whether its driver ended.
#[derive(Clone)]
struct Connection {
    sender: SendRequest<Bytes>,
    closed: Arc<AtomicBool>,
}

impl Connection {
    fn is_open(&self) -> bool {
        !self.closed.load(Ordering::Acquire)
    }
}

/// A connection slot: the live connection is cloned under a short lock
/// (no await inside); `connecting` makes one task at a time open it.
#[derive(Default)]
struct Slot {
    live: SyncMutex<Option<Connection>>,
    connecting: Mutex<()>,
}

impl Slot {
    fn open_connection(&self) -> Option<Connection> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.as_ref().filter(|c| c.is_open()).cloned()
    }

    /// Forgets `dead` (and only it: another task may have replaced it).
    fn forget(&self, dead: &Connection) {
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        if live.as_ref().is_some_and(|c| Arc::ptr_eq(&c.closed, &dead.closed)) {
            *live = None;
        }
    }
}

pub struct H2Pool {
    host: String,
    port: u16,
    origin: String,
    tls: TlsConnector,
    slots: Vec<Slot>,
    next: AtomicUsize,
    in_flight: Arc<Semaphore>,
    timeout: Duration,
    /// Whose latency this pool's requests are (none: not measured).
    provider: Option<Provider>,
    /// How often an open connection is pinged, and how long a ping may wait.
    keep_alive: (Duration, Duration),
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
            slots: (0..options.connections.max(1)).map(|_| Slot::default()).collect(),
            next: AtomicUsize::new(0),
            in_flight: Arc::new(Semaphore::new(options.max_in_flight.max(1))),
            timeout: options.request_timeout,
            provider: None,
            keep_alive: (KEEP_ALIVE_INTERVAL, KEEP_ALIVE_TIMEOUT),
        })
    }

    /// Pings every `interval`, closing a connection whose ping waits `timeout`.
    #[cfg(test)]
    fn with_keep_alive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.keep_alive = (interval, timeout);
        self
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
    pub async fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, TransportError> {
        let _permit = self.in_flight.acquire().await.map_err(|e| TransportError::Request(e.to_string()))?;
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        let connection = self.connection(slot).await?;
        // From here on the time is the provider's (and the network's), not
        // this process's queue for a permit or a connection.
        let started = Instant::now();
        let result = match tokio::time::timeout(self.timeout, exchange(connection.sender.clone(), request)).await {
            Ok(r) => r,
            Err(_) => Err(Failure::Stream(TransportError::Timeout(self.timeout))),
        };
        if let Some(provider) = self.provider {
            metrics::latency(provider, started.elapsed());
        }
        match result {
            Ok(response) => Ok(response),
            Err(Failure::Stream(e)) => {
                if !connection.is_open() {
                    slot.forget(&connection);
                }
                Err(e)
            }
            // GOAWAY or a broken connection: the next request opens another.
            Err(Failure::Connection(e)) => {
                slot.forget(&connection);
                Err(e)
            }
        }
    }

    async fn connection(&self, slot: &Slot) -> Result<Connection, TransportError> {
        if let Some(open) = slot.open_connection() {
            return Ok(open);
        }
        let _one_at_a_time = slot.connecting.lock().await;
        if let Some(open) = slot.open_connection() {
            return Ok(open);
        }
        // Boxed: the TLS handshake's state is kilobytes, and inline it would
        // make every request's future that size (and copied that much per
        // request), though connecting is rare.
        let connection = Box::pin(self.connect()).await?;
        *slot.live.lock().unwrap_or_else(|p| p.into_inner()) = Some(connection.clone());
        Ok(connection)
    }

    async fn connect(&self) -> Result<Connection, TransportError> {
        let fail = |message: String| TransportError::Connect { origin: self.origin.clone(), message };
        let tcp = TcpStream::connect((self.host.as_str(), self.port)).await.map_err(|e| fail(e.to_string()))?;
        tcp.set_nodelay(true).map_err(|e| fail(e.to_string()))?;
        let name = ServerName::try_from(self.host.clone()).map_err(|e| fail(e.to_string()))?;
        let tls = self.tls.connect(name, tcp).await.map_err(|e| fail(e.to_string()))?;
        let (sender, mut driver) = ::h2::client::Builder::new()
            .enable_push(false)
            .initial_window_size(1 << 20)
            .initial_connection_window_size(4 << 20)
            .max_header_list_size(16 << 10)
            .handshake::<_, Bytes>(Unvectored(tls))
            .await
            .map_err(|e| fail(e.to_string()))?;
        let closed = Arc::new(AtomicBool::new(false));
        let (origin, flag, (interval, timeout)) = (self.origin.clone(), closed.clone(), self.keep_alive);
        let pings = driver.ping_pong();
        tokio::spawn(async move {
            let ended = match pings {
                Some(pings) => tokio::select! {
                    r = &mut driver => r.map_err(|e| e.to_string()),
                    e = keep_alive(pings, interval, timeout) => Err(e),
                },
                None => driver.await.map_err(|e| e.to_string()),
            };
            flag.store(true, Ordering::Release);
            if let Err(error) = ended {
                tracing::debug!(origin, error, "push connection closed");
            }
        });
        Ok(Connection { sender, closed })
    }
}

/// Why a request got no answer: its stream alone, or its whole connection.
enum Failure {
    Stream(TransportError),
    Connection(TransportError),
}

impl From<::h2::Error> for Failure {
    fn from(e: ::h2::Error) -> Self {
        let error = TransportError::Request(e.to_string());
        if e.is_go_away() || e.is_io() { Failure::Connection(error) } else { Failure::Stream(error) }
    }
}

/// One request on its own stream, and its whole answer.
async fn exchange(sender: SendRequest<Bytes>, request: Request<Bytes>) -> Result<Response<Bytes>, Failure> {
    let mut sender = sender.ready().await?;
    let (head, body) = request.into_parts();
    let (answer, mut stream) = sender.send_request(Request::from_parts(head, ()), body.is_empty())?;
    if !body.is_empty() {
        // Queued without reserving capacity first: a push body is far
        // smaller than the 64 KiB every stream starts with.
        stream.send_data(body, true)?;
    }
    let (parts, body) = answer.await?.into_parts();
    Ok(Response::from_parts(parts, read_whole(body).await?))
}

/// The answer's body. Usually none (APNs' 200) or one DATA frame, kept
/// without a copy.
async fn read_whole(mut body: RecvStream) -> Result<Bytes, Failure> {
    let mut whole: Option<Bytes> = None;
    let mut joined = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        body.flow_control().release_capacity(chunk.len())?;
        match whole.take() {
            None if joined.is_empty() => whole = Some(chunk),
            None => joined.extend_from_slice(&chunk),
            Some(first) => {
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&chunk);
            }
        }
        if joined.len() > MAX_ANSWER_BYTES {
            return Err(Failure::Stream(TransportError::Request(format!(
                "the answer is larger than {MAX_ANSWER_BYTES} bytes"
            ))));
        }
    }
    Ok(whole.unwrap_or_else(|| joined.freeze()))
}

/// Pings every `interval`; returns why the connection is dead.
async fn keep_alive(mut pings: PingPong, interval: Duration, timeout: Duration) -> String {
    loop {
        tokio::time::sleep(interval).await;
        match tokio::time::timeout(timeout, pings.ping(Ping::opaque())).await {
            Ok(Ok(_pong)) => {}
            Ok(Err(e)) => return format!("ping failed: {e}"),
            Err(_) => return format!("no answer to a ping within {timeout:?}"),
        }
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

#[cfg(test)]
mod tests;
