//! A plane with its gateway and issuer, in front of a fake function that
//! records the events it gets and answers as scripted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use event_plane::clock::ManualClock;
use event_plane::gateway::{Apis, IamCredential};
use event_plane::http::{BoxError, full, new_client};
use event_plane::issuer::Directory;
use event_plane::{GatewayConfig, IssuerConfig, Plane, PlaneConfig};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;

use super::{Answer, Server, TestPlane, routes, spawn_server};

pub const ACCESS_KEY: &str = "local";
pub const SECRET_KEY: &str = "local-secret";

pub const USERS: &str = r#"{
  "clients": [{"client_id": "app"}, {"client_id": "console"}],
  "users": [
    {"username": "one@example.net", "password": "pw-one", "sub": "u-1", "email": "one@example.net"},
    {"username": "two@example.net", "password": "pw-two", "sub": "u-2", "email": "two@example.net"}
  ]
}"#;

pub const APIS: &str = r#"{"apis": [{
  "name": "DevicesApi", "api_id": "devices", "jwt": {"issuer": "local", "audience": ["app"]},
  "routes": [
    {"route": "PUT /users/{id}/devices", "function": "devices", "auth": "jwt"},
    {"route": "DELETE /users/{id}/devices/{token}", "function": "devices", "auth": "jwt"},
    {"route": "PUT /backend/users/{id}/devices", "function": "devices", "auth": "iam"},
    {"route": "POST /admin", "function": "devices", "auth": "jwt", "scopes": ["admin"]},
    {"route": "ANY /open/{proxy+}", "function": "open", "auth": "none"}
  ]}]}"#;

/// What the fake function does with an event.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Its output, as JSON.
    Json(Value),
    /// Its output, as bytes that need not be JSON.
    Raw(&'static str),
    /// `X-Amz-Function-Error: Unhandled`, as watch reports a panic.
    FunctionError,
    /// Never answers.
    Hang,
}

type Script = dyn Fn(&str, &Value) -> Reply + Send + Sync;

pub struct FakeFunction {
    pub server: Server,
    events: Arc<Mutex<Vec<(String, Value)>>>,
}

impl FakeFunction {
    pub async fn start(script: impl Fn(&str, &Value) -> Reply + Send + Sync + 'static) -> Self {
        let script: Arc<Script> = Arc::new(script);
        let events = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&events);
        let server = spawn_server(move |req: Request<Incoming>| {
            let (script, events) = (Arc::clone(&script), Arc::clone(&recorded));
            async move {
                let path = req.uri().path().to_owned();
                let function =
                    path.trim_start_matches("/2015-03-31/functions/").trim_end_matches("/invocations").to_owned();
                let body = req.into_body().collect().await?.to_bytes();
                let event: Value = serde_json::from_slice(&body)?;
                let reply = script(&function, &event);
                events.lock().unwrap().push((function, event));
                let mut response = match reply {
                    Reply::Json(value) => Response::new(full(serde_json::to_vec(&value)?)),
                    Reply::Raw(text) => Response::new(full(text)),
                    Reply::FunctionError => {
                        let mut r = Response::new(full(r#"{"errorType":"Panic","errorMessage":"boom"}"#));
                        r.headers_mut().insert("x-amz-function-error", "Unhandled".parse()?);
                        r
                    }
                    Reply::Hang => std::future::pending().await,
                };
                *response.status_mut() = StatusCode::OK;
                Ok::<_, BoxError>(response)
            }
        })
        .await;
        FakeFunction { server, events }
    }

    pub fn events(&self) -> Vec<(String, Value)> {
        self.events.lock().unwrap().clone()
    }
}

pub struct GatewayPlane {
    pub test: TestPlane,
    pub clock: Arc<ManualClock>,
}

impl GatewayPlane {
    pub async fn start(lambda_upstream: &str, timeout: Duration) -> Self {
        let state_dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(SystemTime::now()));
        let loopback = "127.0.0.1:0".parse().unwrap();
        let config = PlaneConfig {
            s3_listen: loopback,
            // Nothing here writes objects; the S3 side only needs an address.
            s3_upstream: lambda_upstream.parse().unwrap(),
            lambda_listen: loopback,
            lambda_upstream: lambda_upstream.parse().unwrap(),
            routes: routes(),
            state_dir: state_dir.path().join("state"),
            retries: 0,
            retry_delays: vec![],
            max_concurrency: 1,
            region: "us-east-1".into(),
            gateway: Some(GatewayConfig {
                listen: loopback,
                apis: Apis::from_json(APIS).expect("valid APIs"),
                iam: Some(IamCredential { access_key_id: ACCESS_KEY.into(), secret_access_key: SECRET_KEY.into() }),
                timeout,
                account_id: "123456789012".into(),
            }),
            issuer: Some(IssuerConfig {
                listen: loopback,
                directory: serde_json::from_str::<Directory>(USERS).expect("valid users"),
            }),
            clock: clock.clone(),
            schedule_clock: clock.clone(),
            account_id: "123456789012".into(),
        };
        let plane = Plane::start(config).await.expect("plane starts");
        GatewayPlane { test: TestPlane { plane, state_dir, client: new_client() }, clock }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.test.plane.gateway_addr().expect("a gateway"))
    }

    pub fn issuer(&self) -> String {
        self.test.plane.issuer_url().expect("an issuer").to_owned()
    }

    /// `POST <issuer>/token` with a form.
    pub async fn token_request(&self, form: &str) -> Answer {
        let request = Request::post(format!("{}/token", self.issuer()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(full(form.to_owned()))
            .unwrap();
        self.test.send(request).await
    }

    /// The tokens of a password sign-in that must succeed.
    pub async fn sign_in(&self, username: &str, password: &str, client_id: &str) -> Value {
        let answer = self
            .token_request(&format!(
                "grant_type=password&username={username}&password={password}&client_id={client_id}"
            ))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "sign-in: {}", String::from_utf8_lossy(&answer.body));
        answer.json()
    }

    pub async fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Answer {
        let mut request = Request::builder().method(method).uri(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.test.send(request.body(full(body.into())).unwrap()).await
    }
}
