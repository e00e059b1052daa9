//! In-process fakes for the plane's upstreams, and helpers shared by the
//! integration tests. Nothing here talks to moto or cargo lambda.

#![allow(dead_code)] // each test binary uses a different subset

pub mod gateway;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use event_plane::clock::SystemClock;
use event_plane::http::{Body, BoxError, HttpClient, empty, full, new_client};
use event_plane::{Plane, PlaneConfig, Route, Routes};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Upper bound for any single wait in the tests.
pub const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- servers

/// A server on a free loopback port, stopped when dropped.
pub struct Server {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// `Err` from the handler makes hyper drop the connection without an answer,
/// which is what a crashing function process looks like to a client.
pub async fn spawn_server<H, F>(handler: H) -> Server
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Body>, BoxError>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
    let addr = listener.local_addr().expect("fake addr");
    let task = tokio::spawn(async move {
        let mut connections = Vec::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handler = handler.clone();
            connections.push(AbortOnDrop(tokio::spawn(async move {
                let service = service_fn(move |req| handler.clone()(req));
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            })));
        }
    });
    Server { addr, task }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

// ------------------------------------------------------------ fake lambda

#[derive(Debug, Clone)]
pub enum Behavior {
    Ok,
    /// Sleep, then answer 200.
    Sleep(Duration),
    /// 200 with `X-Amz-Function-Error: Unhandled`.
    FunctionError,
    Status(u16),
    /// Close the connection without answering.
    Crash,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub function: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub started: Instant,
    pub finished: Instant,
}

type Script = dyn Fn(&str, usize) -> Behavior + Send + Sync;

/// Stands in for `cargo lambda watch`: records every invocation and answers
/// as the script says for (function, 0-based call index of that function).
pub struct FakeLambda {
    pub server: Server,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub concurrent_max: Arc<AtomicUsize>,
    arrived: Arc<Notify>,
}

impl FakeLambda {
    pub async fn start(script: impl Fn(&str, usize) -> Behavior + Send + Sync + 'static) -> Self {
        let script: Arc<Script> = Arc::new(script);
        let received = Arc::new(Mutex::new(Vec::<Received>::new()));
        let calls = Arc::new(Mutex::new(HashMap::<String, usize>::new()));
        let concurrent = Arc::new(AtomicUsize::new(0));
        let concurrent_max = Arc::new(AtomicUsize::new(0));
        let arrived = Arc::new(Notify::new());
        let server = {
            let (received, concurrent, concurrent_max, arrived) =
                (received.clone(), concurrent.clone(), concurrent_max.clone(), arrived.clone());
            spawn_server(move |req: Request<Incoming>| {
                let (script, received, calls, concurrent, concurrent_max, arrived) = (
                    script.clone(),
                    received.clone(),
                    calls.clone(),
                    concurrent.clone(),
                    concurrent_max.clone(),
                    arrived.clone(),
                );
                async move {
                    let started = Instant::now();
                    let now = concurrent.fetch_add(1, Ordering::SeqCst) + 1;
                    concurrent_max.fetch_max(now, Ordering::SeqCst);
                    let path = req.uri().path().to_owned();
                    let function =
                        path.trim_start_matches("/2015-03-31/functions/").trim_end_matches("/invocations").to_owned();
                    let headers = req.headers().clone();
                    let body = req.into_body().collect().await?.to_bytes();
                    let index = {
                        let mut calls = calls.lock().unwrap();
                        let n = calls.entry(function.clone()).or_default();
                        *n += 1;
                        *n - 1
                    };
                    let behavior = script(&function, index);
                    if let Behavior::Sleep(d) = behavior {
                        tokio::time::sleep(d).await;
                    }
                    concurrent.fetch_sub(1, Ordering::SeqCst);
                    received.lock().unwrap().push(Received {
                        path,
                        function,
                        headers,
                        body,
                        started,
                        finished: Instant::now(),
                    });
                    arrived.notify_waiters();
                    let mut resp = Response::new(full(Bytes::from_static(b"{\"ok\":true}")));
                    match behavior {
                        Behavior::Ok | Behavior::Sleep(_) => {}
                        Behavior::FunctionError => {
                            resp = Response::new(full(Bytes::from_static(
                                b"{\"errorType\":\"Boom\",\"errorMessage\":\"scripted failure\"}",
                            )));
                            resp.headers_mut().insert("x-amz-function-error", "Unhandled".parse().unwrap());
                        }
                        Behavior::Status(code) => {
                            *resp.status_mut() = StatusCode::from_u16(code).unwrap();
                        }
                        Behavior::Crash => return Err("scripted crash".into()),
                    }
                    Ok(resp)
                }
            })
            .await
        };
        FakeLambda { server, received, concurrent_max, arrived }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn received_by(&self, function: &str) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.function == function).collect()
    }

    /// Waits until at least `n` invocations arrived (across functions).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + WAIT;
        loop {
            let notified = self.arrived.notified();
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "expected {n} invocations, got {}", got.len());
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }
}

// ---------------------------------------------------------------- fake S3

#[derive(Debug, Clone)]
pub struct StoredObject {
    pub size: u64,
    pub sha256: String,
    pub etag: String,
}

#[derive(Debug, Clone)]
pub struct S3Request {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
}

/// Stands in for moto: PUT stores size/hash (hashing while the body streams
/// in, never holding it), HEAD answers Content-Length and ETag, GET
/// `/<bucket>/gen/<n>` streams `n` generated bytes, POST `?uploadId`
/// completes a fake multipart upload. Bucket `denied` answers 403.
pub struct FakeS3 {
    pub server: Server,
    pub objects: Arc<Mutex<HashMap<String, StoredObject>>>,
    pub requests: Arc<Mutex<Vec<S3Request>>>,
    /// Bytes of the PUT body received so far (for streaming checks).
    pub put_progress: Arc<Progress>,
    /// Gate for GET streams: pause after half, until the client got a quarter.
    pub get_gate: Arc<Mutex<Option<Arc<Progress>>>>,
}

pub const MULTIPART_SIZE: u64 = 15 * 1024 * 1024;

impl FakeS3 {
    pub async fn start() -> Self {
        let objects = Arc::new(Mutex::new(HashMap::<String, StoredObject>::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let put_progress = Arc::new(Progress::default());
        let get_gate: Arc<Mutex<Option<Arc<Progress>>>> = Arc::new(Mutex::new(None));
        let server = {
            let (objects, requests, put_progress, get_gate) =
                (objects.clone(), requests.clone(), put_progress.clone(), get_gate.clone());
            spawn_server(move |req: Request<Incoming>| {
                let (objects, requests, put_progress, get_gate) = (
                    objects.clone(),
                    requests.clone(),
                    put_progress.clone(),
                    get_gate.clone(),
                );
                async move {
                    // Stored by decoded path: clients differ in what they escape.
                    let path = percent_decode_str(req.uri().path()).decode_utf8()?.into_owned();
                    let query = req.uri().query().map(str::to_owned);
                    requests.lock().unwrap().push(S3Request {
                        method: req.method().clone(),
                        path: path.clone(),
                        query: query.clone(),
                        headers: req.headers().clone(),
                    });
                    if path.starts_with("/denied/") {
                        let mut resp = Response::new(full("<Error><Code>AccessDenied</Code></Error>"));
                        *resp.status_mut() = StatusCode::FORBIDDEN;
                        return Ok(resp);
                    }
                    let query = query.unwrap_or_default();
                    let method = req.method().clone();
                    let resp = if method == Method::PUT && !query.contains("uploadId") {
                        let object = if let Some(src) = req.headers().get("x-amz-copy-source") {
                            let src = percent_decode_str(src.to_str()?).decode_utf8()?;
                            let src = format!("/{}", src.trim_start_matches('/'));
                            let found = objects.lock().unwrap().get(&src).cloned();
                            found.ok_or("copy source missing")?
                        } else {
                            let decoded_len = req
                                .headers()
                                .get("x-amz-decoded-content-length")
                                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                            let (size, sha256) = hash_stream(req.into_body(), &put_progress).await?;
                            StoredObject {
                                size: decoded_len.unwrap_or(size),
                                etag: sha256[..32].to_owned(),
                                sha256,
                            }
                        };
                        let etag = object.etag.clone();
                        objects.lock().unwrap().insert(path, object);
                        let mut resp = Response::new(empty());
                        resp.headers_mut().insert("etag", format!("\"{etag}\"").parse()?);
                        resp.headers_mut()
                            .insert("x-amz-request-id", "FAKEREQUESTID123".parse()?);
                        resp.headers_mut().insert("x-amz-id-2", "fakehostid==".parse()?);
                        resp
                    } else if method == Method::PUT {
                        // UploadPart: consume and acknowledge; no object yet.
                        req.into_body().collect().await?;
                        let mut resp = Response::new(empty());
                        resp.headers_mut().insert("etag", "\"part\"".parse()?);
                        resp
                    } else if method == Method::POST && query.contains("uploadId") {
                        req.into_body().collect().await?;
                        objects.lock().unwrap().insert(
                            path,
                            StoredObject {
                                size: MULTIPART_SIZE,
                                sha256: String::new(),
                                etag: "d41d8cd98f00b204e9800998ecf8427e-3".into(),
                            },
                        );
                        Response::new(full(
                            "<CompleteMultipartUploadResult><ETag>\"d41d8cd98f00b204e9800998ecf8427e-3\"</ETag></CompleteMultipartUploadResult>",
                        ))
                    } else if method == Method::HEAD {
                        match objects.lock().unwrap().get(&path) {
                            Some(o) => {
                                let mut resp = Response::new(empty());
                                resp.headers_mut()
                                    .insert("content-length", o.size.to_string().parse()?);
                                resp.headers_mut().insert("etag", format!("\"{}\"", o.etag).parse()?);
                                resp
                            }
                            None => {
                                let mut resp = Response::new(empty());
                                *resp.status_mut() = StatusCode::NOT_FOUND;
                                resp
                            }
                        }
                    } else if method == Method::GET && path.contains("/gen/") {
                        let n: u64 = path.rsplit('/').next().unwrap_or("0").parse()?;
                        let gate = get_gate.lock().unwrap().clone();
                        let body = GenBody::new(n, true, gate.map(|p| (n / 2, p, n / 4)));
                        Response::new(body.boxed_unsync())
                    } else {
                        let mut resp = Response::new(empty());
                        *resp.status_mut() = StatusCode::NOT_FOUND;
                        resp
                    };
                    Ok(resp)
                }
            })
            .await
        };
        FakeS3 { server, objects, requests, put_progress, get_gate }
    }

    /// `path` as sent (percent-encoded).
    pub fn object(&self, path: &str) -> Option<StoredObject> {
        let path = percent_decode_str(path).decode_utf8().unwrap();
        self.objects.lock().unwrap().get(path.as_ref()).cloned()
    }
}

async fn hash_stream(mut body: Incoming, progress: &Progress) -> Result<(u64, String), BoxError> {
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame?.data_ref() {
            hasher.update(data);
            size += data.len() as u64;
            progress.add(data.len() as u64);
        }
    }
    Ok((size, hex(&hasher.finalize())))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------- generated bodies

/// Counts bytes seen by one side of a stream and wakes whoever waits on it.
#[derive(Debug, Default)]
pub struct Progress {
    bytes: AtomicU64,
    changed: Notify,
}

impl Progress {
    pub fn add(&self, n: u64) {
        self.bytes.fetch_add(n, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    pub fn get(&self) -> u64 {
        self.bytes.load(Ordering::SeqCst)
    }

    pub async fn reach(self: Arc<Self>, n: u64) {
        loop {
            let notified = self.changed.notified();
            if self.get() >= n {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
        }
    }
}

const CHUNK: u64 = 64 * 1024;

/// Deterministic bytes at `offset..offset+len` (SplitMix64 of the 8-byte word index).
pub fn gen_bytes(offset: u64, len: usize) -> Bytes {
    let mut out = Vec::with_capacity(len);
    let mut pos = offset;
    while out.len() < len {
        let word = splitmix(pos / 8).to_le_bytes();
        let start = (pos % 8) as usize;
        let take = (8 - start).min(len - out.len());
        out.extend_from_slice(&word[start..start + take]);
        pos += take as u64;
    }
    Bytes::from(out)
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn gen_sha256(total: u64) -> String {
    let mut hasher = Sha256::new();
    let mut offset = 0;
    while offset < total {
        let n = CHUNK.min(total - offset);
        hasher.update(gen_bytes(offset, n as usize));
        offset += n;
    }
    hex(&hasher.finalize())
}

/// A body of `total` generated bytes, produced chunk by chunk. With a gate
/// `(at, progress, need)`, it stops after `at` bytes until `progress`
/// reaches `need`: if anything between here and the receiver buffered the
/// whole body, that would never happen and the test would time out.
pub struct GenBody {
    offset: u64,
    total: u64,
    exact_len: bool,
    gate: Option<(u64, Arc<Progress>, u64)>,
    waiting: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl GenBody {
    pub fn new(total: u64, exact_len: bool, gate: Option<(u64, Arc<Progress>, u64)>) -> Self {
        GenBody { offset: 0, total, exact_len, gate, waiting: None }
    }
}

impl hyper::body::Body for GenBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.gate.as_ref().is_some_and(|(at, _, _)| this.offset >= *at)
            && let Some((_, progress, need)) = this.gate.take()
        {
            this.waiting = Some(Box::pin(progress.reach(need)));
        }
        if let Some(wait) = this.waiting.as_mut() {
            match wait.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(()) => this.waiting = None,
            }
        }
        if this.offset >= this.total {
            return Poll::Ready(None);
        }
        let mut n = CHUNK.min(this.total - this.offset);
        if let Some((at, _, _)) = &this.gate {
            // Stop exactly at the gate so the wait starts there.
            n = n.min(*at - this.offset);
        }
        let data = gen_bytes(this.offset, n as usize);
        this.offset += n;
        Poll::Ready(Some(Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.offset >= self.total && self.waiting.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact_len { SizeHint::with_exact(self.total - self.offset) } else { SizeHint::default() }
    }
}

// ------------------------------------------------------------- the plane

pub fn routes() -> Routes {
    Routes::new(vec![
        Route {
            name: "batches-to-send-batch".into(),
            bucket: None,
            prefix: "batches/".into(),
            suffix: String::new(),
            function: "send-batch".into(),
        },
        Route {
            name: "segments-to-ab-split".into(),
            bucket: None,
            prefix: "segments/".into(),
            suffix: ".jsonl".into(),
            function: "ab-split".into(),
        },
    ])
    .expect("valid routes")
}

pub struct TestPlane {
    pub plane: Plane,
    pub state_dir: tempfile::TempDir,
    pub client: HttpClient,
}

pub async fn start_plane(
    s3_upstream: &str,
    lambda_upstream: &str,
    retries: u32,
    retry_delays_ms: &[u64],
    max_concurrency: usize,
) -> TestPlane {
    let state_dir = tempfile::tempdir().expect("tempdir");
    let config = PlaneConfig {
        s3_listen: "127.0.0.1:0".parse().unwrap(),
        s3_upstream: s3_upstream.parse().unwrap(),
        lambda_listen: "127.0.0.1:0".parse().unwrap(),
        lambda_upstream: lambda_upstream.parse().unwrap(),
        routes: routes(),
        state_dir: state_dir.path().join("state"),
        retries,
        retry_delays: retry_delays_ms.iter().map(|ms| Duration::from_millis(*ms)).collect(),
        max_concurrency,
        region: "us-east-1".into(),
        gateway: None,
        issuer: None,
        clock: Arc::new(SystemClock),
        schedule_clock: Arc::new(SystemClock),
        account_id: "123456789012".into(),
    };
    let plane = Plane::start(config).await.expect("plane starts");
    TestPlane { plane, state_dir, client: new_client() }
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub received_at: Instant,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

impl TestPlane {
    pub fn lambda_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.plane.lambda_addr())
    }

    pub fn s3_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.plane.s3_addr())
    }

    pub async fn send(&self, req: Request<Body>) -> Answer {
        let resp = tokio::time::timeout(WAIT, self.client.request(req))
            .await
            .expect("answer in time")
            .expect("request succeeds");
        let received_at = Instant::now();
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Answer { status: parts.status, headers: parts.headers, body, received_at }
    }

    pub async fn invoke(&self, function: &str, invocation_type: Option<&str>, payload: &str) -> Answer {
        let mut req = Request::post(self.lambda_url(&format!("/2015-03-31/functions/{function}/invocations")));
        if let Some(t) = invocation_type {
            req = req.header("x-amz-invocation-type", t);
        }
        self.send(req.body(full(payload.to_owned())).unwrap()).await
    }

    pub async fn put(&self, path: &str, body: &'static str, headers: &[(&str, &str)]) -> Answer {
        let mut req = Request::put(self.s3_url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(req.body(full(body)).unwrap()).await
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let answer = self.send(Request::get(self.lambda_url(path)).body(empty()).unwrap()).await;
        assert_eq!(answer.status, StatusCode::OK, "GET {path}");
        answer.json()
    }

    pub async fn post_plane(&self, path_and_query: &str) -> Answer {
        self.send(Request::post(self.lambda_url(path_and_query)).body(empty()).unwrap()).await
    }

    pub async fn stats(&self) -> serde_json::Value {
        self.get_json("/_plane/stats").await
    }

    /// Waits until nothing is queued, waiting for a retry or in flight.
    pub async fn wait_idle(&self) -> serde_json::Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let stats = self.stats().await;
            if stats["queued"] == 0 && stats["in_flight"] == 0 {
                return stats;
            }
            assert!(Instant::now() < deadline, "plane never went idle: {stats}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn dead_letters(&self) -> Vec<serde_json::Value> {
        let path = self.state_dir.path().join("state").join("dead-letter.jsonl");
        match std::fs::read_to_string(path) {
            Ok(text) => text.lines().map(|l| serde_json::from_str(l).expect("dead-letter line is JSON")).collect(),
            Err(_) => Vec::new(),
        }
    }
}

pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
