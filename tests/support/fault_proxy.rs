//! A small HTTP/1.1 proxy that injects AWS-side faults in front of one
//! emulator (dynalite or the S3 endpoint), with seeded randomness.
//!
//! The emulators never throttle, so the SDKs' retry paths and send-batch's
//! own `UnprocessedKeys` loop would otherwise go untested. Faults are what
//! AWS documents:
//! - DynamoDB: `400 ProvisionedThroughputExceededException` (the request is
//!   not forwarded, so nothing was applied, as with a real throttle), and
//!   `BatchGetItem` answers with some keys moved into `UnprocessedKeys`;
//! - S3: `503 SlowDown` and `500 InternalError` (not forwarded either).
//!
//! Bodies are buffered: test files are a few MB at most, and buffering keeps
//! the `BatchGetItem` rewrite simple.
//!
//! It can also add a fixed latency to every call (`set_latency`): AWS's
//! in-region round trip, for the benchmarks, which the emulators lack.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Which API the proxy fronts; decides which faults apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    DynamoDb,
    S3,
}

/// Probabilities, each drawn once per request (0.0 turns a fault off).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// DynamoDB: answer `ProvisionedThroughputExceededException` without
    /// forwarding.
    pub dynamo_throttle: f64,
    /// DynamoDB `BatchGetItem`: move about half of the requested keys of a
    /// successful answer into `UnprocessedKeys`.
    pub dynamo_unprocessed: f64,
    /// S3: answer `503 SlowDown` without forwarding.
    pub s3_slow_down: f64,
    /// S3: answer `500 InternalError` without forwarding.
    pub s3_internal: f64,
}

impl Faults {
    pub const NONE: Faults =
        Faults { dynamo_throttle: 0.0, dynamo_unprocessed: 0.0, s3_slow_down: 0.0, s3_internal: 0.0 };
}

/// A trigger shared by two proxies: one arms it when it forwards a request
/// it watches for, the other fails requests while it is armed. This places a
/// fault at an exact point of a job (e.g. the checkpoint right after a
/// failed-part upload), which random faults hit only rarely.
#[derive(Debug, Clone, Default)]
pub struct Trip {
    remaining: Arc<AtomicU32>,
    /// Matching requests let through before the armed failures apply.
    skip: Arc<AtomicU32>,
    fired: Arc<AtomicBool>,
}

impl Trip {
    /// A trip armed from the start with `failures`.
    pub fn armed(failures: u32) -> Trip {
        let trip = Trip::default();
        trip.arm(failures);
        trip
    }

    /// Whether it was armed at least once.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }

    fn arm(&self, n: u32) {
        if !self.fired.swap(true, Ordering::SeqCst) {
            self.remaining.store(n, Ordering::SeqCst);
        }
    }

    /// A trip armed from the start that lets `skip` matching requests
    /// through, then fails `failures`.
    pub fn armed_after(skip: u32, failures: u32) -> Trip {
        let trip = Trip::armed(failures);
        trip.skip.store(skip, Ordering::SeqCst);
        trip
    }

    /// Failures still armed.
    pub fn remaining(&self) -> u32 {
        self.remaining.load(Ordering::SeqCst)
    }

    /// Takes one armed failure, if any is left (after the skipped requests).
    fn take(&self) -> bool {
        if self.remaining.load(Ordering::SeqCst) == 0 {
            return false;
        }
        if self.skip.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return false;
        }
        self.remaining.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }
}

/// When the proxy forwards a request whose path contains `marker`, it arms
/// `trip` with `failures` (once).
#[derive(Debug, Clone)]
struct ArmOn {
    marker: String,
    trip: Trip,
    failures: u32,
}

/// While `trip` is armed, requests of `operation` are throttled, or (with
/// `after_forward`) applied and then answered with a 500.
#[derive(Debug, Clone)]
struct FailWhile {
    operation: String,
    trip: Trip,
    after_forward: bool,
}

/// How many requests got which treatment, keyed `<operation> <what>`, e.g.
/// `PutItem throttled`, `BatchGetItem unprocessed-keys`, `GET slow-down`.
pub type FaultCounts = BTreeMap<String, u64>;

struct State {
    service: Service,
    upstream: Mutex<Option<Uri>>,
    faults: Mutex<Faults>,
    rng: Mutex<SmallRng>,
    counts: Mutex<FaultCounts>,
    arm_on: Mutex<Option<ArmOn>>,
    fail_while: Mutex<Option<FailWhile>>,
    latency: Mutex<Duration>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl State {
    fn draw(&self, p: f64) -> bool {
        p > 0.0 && self.rng.lock().unwrap_or_else(PoisonError::into_inner).random_bool(p.min(1.0))
    }

    fn count(&self, operation: &str, what: &str, n: u64) {
        *self
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(format!("{operation} {what}"))
            .or_default() += n;
    }

    fn faults(&self) -> Faults {
        *self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running proxy on 127.0.0.1; dropping it stops the listener.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Binds a free loopback port. Requests get `502` until
    /// [`FaultProxy::set_upstream`] names the emulator, and no faults until
    /// [`FaultProxy::set_faults`].
    pub async fn start(service: Service, seed: u64) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(5)).build(connector);
        let state = Arc::new(State {
            service,
            upstream: Mutex::new(None),
            faults: Mutex::new(Faults::NONE),
            rng: Mutex::new(SmallRng::seed_from_u64(seed)),
            counts: Mutex::new(FaultCounts::new()),
            arm_on: Mutex::new(None),
            fail_while: Mutex::new(None),
            latency: Mutex::new(Duration::ZERO),
            client,
        });
        let task = tokio::spawn(accept_loop(listener, state.clone()));
        Ok(FaultProxy { addr, state, task })
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_*`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The emulator to forward to (`http://127.0.0.1:PORT`).
    pub fn set_upstream(&self, url: &str) -> anyhow::Result<()> {
        let uri: Uri = url.parse()?;
        *self.state.upstream.lock().unwrap_or_else(PoisonError::into_inner) = Some(uri);
        Ok(())
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.state.faults.lock().unwrap_or_else(PoisonError::into_inner) = faults;
    }

    /// Arms `trip` with `failures` when a forwarded request's path contains
    /// `marker` (the first time only).
    pub fn arm_on(&self, marker: &str, trip: &Trip, failures: u32) {
        let rule = ArmOn { marker: marker.to_string(), trip: trip.clone(), failures };
        *self.state.arm_on.lock().unwrap_or_else(PoisonError::into_inner) = Some(rule);
    }

    /// Fails requests of `operation` (throttled for DynamoDB, SlowDown for
    /// S3) while `trip` is armed, each taking one of its failures.
    pub fn fail_while(&self, operation: &str, trip: &Trip) {
        let rule = FailWhile { operation: operation.to_string(), trip: trip.clone(), after_forward: false };
        *self.state.fail_while.lock().unwrap_or_else(PoisonError::into_inner) = Some(rule);
    }

    /// Forwards requests of `operation` while `trip` is armed but answers
    /// them with `500 InternalServerError`: the write is applied and its
    /// answer lost, as when a response times out. The SDK then retries a
    /// request that already happened.
    pub fn lose_answers_while(&self, operation: &str, trip: &Trip) {
        let rule = FailWhile { operation: operation.to_string(), trip: trip.clone(), after_forward: true };
        *self.state.fail_while.lock().unwrap_or_else(PoisonError::into_inner) = Some(rule);
    }

    /// Holds every request this long before it is handled (zero: none).
    pub fn set_latency(&self, latency: Duration) {
        *self.state.latency.lock().unwrap_or_else(PoisonError::into_inner) = latency;
    }

    /// What was injected (and forwarded) so far.
    pub fn counts(&self) -> FaultCounts {
        self.state.counts.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
        // In the set (not detached) so that aborting the accept loop, on drop,
        // also ends every open connection.
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, req).await) }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let latency = *state.latency.lock().unwrap_or_else(PoisonError::into_inner);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match proxy(state, req).await {
        Ok(response) => response,
        Err(e) => plain(StatusCode::BAD_GATEWAY, "text/plain", format!("fault proxy: {e:#}")),
    }
}

async fn proxy(state: &State, req: Request<Incoming>) -> anyhow::Result<Response<Full<Bytes>>> {
    let upstream = state.upstream.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let Some(upstream) = upstream else {
        anyhow::bail!("no upstream yet");
    };
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let faults = state.faults();
    let operation = match state.service {
        Service::DynamoDb => parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown")
            .to_string(),
        Service::S3 => parts.method.to_string(),
    };

    let (tripped, lose_answer) = state
        .fail_while
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .filter(|rule| rule.operation == operation && rule.trip.take())
        .map_or((false, false), |rule| (!rule.after_forward, rule.after_forward));

    // Injected before forwarding: the emulator never sees the request, as
    // with a real throttle, so a retry is always safe.
    match state.service {
        Service::DynamoDb if tripped => {
            state.count(&operation, "throttled (trip)", 1);
            return Ok(throttled());
        }
        Service::S3 if tripped => {
            state.count(&operation, "slow-down (trip)", 1);
            return Ok(s3_error(StatusCode::SERVICE_UNAVAILABLE, "SlowDown", "Please reduce your request rate."));
        }
        Service::DynamoDb if state.draw(faults.dynamo_throttle) => {
            state.count(&operation, "throttled", 1);
            return Ok(throttled());
        }
        Service::S3 if state.draw(faults.s3_slow_down) => {
            state.count(&operation, "slow-down", 1);
            return Ok(s3_error(StatusCode::SERVICE_UNAVAILABLE, "SlowDown", "Please reduce your request rate."));
        }
        Service::S3 if state.draw(faults.s3_internal) => {
            state.count(&operation, "internal-error", 1);
            return Ok(s3_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
            ));
        }
        _ => {}
    }

    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri = Uri::builder()
        .scheme(upstream.scheme().cloned().unwrap_or(http::uri::Scheme::HTTP))
        .authority(upstream.authority().cloned().ok_or_else(|| anyhow::anyhow!("upstream has no authority"))?)
        .path_and_query(path)
        .build()?;
    let mut forward = Request::builder().method(parts.method.clone()).uri(uri).version(http::Version::HTTP_11);
    if let Some(headers) = forward.headers_mut() {
        *headers = parts.headers.clone();
        strip_hop_by_hop(headers);
    }
    let request_json = (state.service == Service::DynamoDb && operation == "BatchGetItem")
        .then(|| serde_json::from_slice::<Value>(&body).ok())
        .flatten();
    let response = state.client.request(forward.body(Full::new(body))?).await?;
    let (mut head, body) = response.into_parts();
    let mut body = body.collect().await?.to_bytes();
    strip_hop_by_hop(&mut head.headers);
    state.count(&operation, "forwarded", 1);
    if lose_answer {
        state.count(&operation, "answer lost (trip)", 1);
        return Ok(internal_server_error());
    }
    if head.status.is_success()
        && let Some(rule) = state.arm_on.lock().unwrap_or_else(PoisonError::into_inner).as_ref()
        && path.contains(&rule.marker)
    {
        rule.trip.arm(rule.failures);
    }

    if head.status.is_success()
        && let Some(request) = request_json
        && state.draw(faults.dynamo_unprocessed)
        && let Some((rewritten, moved)) = unprocess_keys(state, &request, &body)
    {
        state.count(&operation, "unprocessed-keys", moved);
        body = rewritten;
        // The checksum was over the original body.
        head.headers.remove("x-amz-crc32");
        head.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    Ok(Response::from_parts(head, Full::new(body)))
}

/// Moves about half of each table's requested keys into `UnprocessedKeys`
/// and drops their items from `Responses`; None when nothing was moved.
fn unprocess_keys(state: &State, request: &Value, response: &[u8]) -> Option<(Bytes, u64)> {
    let mut answer: Value = serde_json::from_slice(response).ok()?;
    let request_items = request.get("RequestItems")?.as_object()?;
    let mut unprocessed = Map::new();
    let mut moved = 0u64;
    for (table, keys_and_attributes) in request_items {
        let keys = keys_and_attributes.get("Keys")?.as_array()?;
        let chosen: Vec<Value> = keys.iter().filter(|_| state.draw(0.5)).cloned().collect();
        if chosen.is_empty() {
            continue;
        }
        if let Some(items) = answer.pointer_mut(&format!("/Responses/{}", escape_pointer(table)))
            && let Some(items) = items.as_array_mut()
        {
            items.retain(|item| !chosen.iter().any(|key| key_matches(key, item)));
        }
        moved += chosen.len() as u64;
        let mut rest = keys_and_attributes.clone();
        rest["Keys"] = Value::Array(chosen);
        unprocessed.insert(table.clone(), rest);
    }
    if moved == 0 {
        return None;
    }
    answer["UnprocessedKeys"] = Value::Object(unprocessed);
    Some((Bytes::from(serde_json::to_vec(&answer).ok()?), moved))
}

/// An item matches a key when every key attribute is equal.
fn key_matches(key: &Value, item: &Value) -> bool {
    key.as_object().is_some_and(|k| k.iter().all(|(name, value)| item.get(name) == Some(value)))
}

fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn throttled() -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
        "message": "The level of configured provisioned throughput for the table was exceeded. (injected by the fault proxy)"
    });
    plain(StatusCode::BAD_REQUEST, "application/x-amz-json-1.0", body.to_string())
}

fn internal_server_error() -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
        "message": "Internal server error (injected by the fault proxy after applying the request)"
    });
    plain(StatusCode::INTERNAL_SERVER_ERROR, "application/x-amz-json-1.0", body.to_string())
}

fn s3_error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    let request_id = format!("{:016X}", rand::random::<u64>());
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>\
         <RequestId>{request_id}</RequestId><HostId>fault-proxy</HostId></Error>"
    );
    plain(status, "application/xml", body)
}

fn plain(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Headers about one hop, not the message: hyper frames bodies itself.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [header::CONNECTION, header::TE, header::TRAILER, header::TRANSFER_ENCODING, header::UPGRADE] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
    // hyper sets it again from the buffered body.
    headers.remove(header::EXPECT);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_skip_then_fail_a_fixed_number() {
        let trip = Trip::armed_after(2, 3);
        let taken: Vec<bool> = (0..7).map(|_| trip.take()).collect();
        assert_eq!(taken, [false, false, true, true, true, false, false]);
        let later = Trip::default();
        assert!(!later.take() && !later.fired());
        later.arm(1);
        later.arm(5);
        assert!(later.fired() && later.take() && !later.take(), "armed once only");
    }

    #[test]
    fn moves_keys_into_unprocessed() {
        let state = State {
            service: Service::DynamoDb,
            upstream: Mutex::new(None),
            faults: Mutex::new(Faults::NONE),
            rng: Mutex::new(SmallRng::seed_from_u64(7)),
            counts: Mutex::new(FaultCounts::new()),
            arm_on: Mutex::new(None),
            fail_while: Mutex::new(None),
            latency: Mutex::new(Duration::ZERO),
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        };
        let keys: Vec<Value> = (0..40).map(|i| serde_json::json!({"user_id": {"S": format!("u-{i}")}})).collect();
        let items: Vec<Value> =
            (0..40).map(|i| serde_json::json!({"user_id": {"S": format!("u-{i}")}, "devices": {"L": []}})).collect();
        let request =
            serde_json::json!({"RequestItems": {"devices": {"Keys": keys, "ProjectionExpression": "user_id"}}});
        let response = serde_json::json!({"Responses": {"devices": items}, "UnprocessedKeys": {}});
        let (body, moved) =
            unprocess_keys(&state, &request, response.to_string().as_bytes()).expect("some keys are moved");
        let answer: Value = serde_json::from_slice(&body).unwrap();
        let left = answer["Responses"]["devices"].as_array().unwrap();
        let rest = &answer["UnprocessedKeys"]["devices"];
        assert_eq!(rest["ProjectionExpression"], "user_id");
        let rest_keys = rest["Keys"].as_array().unwrap();
        assert_eq!(rest_keys.len() as u64, moved);
        assert_eq!(left.len() + rest_keys.len(), 40, "every key is either answered or unprocessed");
        assert!(rest_keys.iter().all(|k| !left.iter().any(|item| key_matches(k, item))));
    }
}
