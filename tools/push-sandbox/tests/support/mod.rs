//! Test harness: runs the built push-sandbox binary on free ports in a temp dir and
//! kills it on drop; helpers for outside clients (curl, h2load) and JWT minting.

#![allow(dead_code)] // each test binary uses a different subset of the helpers

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use push_sandbox::{ReadyFile, StatsSnapshot};
use serde::Serialize;

pub const TOPIC: &str = "com.example.app";
pub const PAYLOAD: &str = r#"{"aps":{"alert":{"title":"We miss you","body":"See what's new, Ann"},"sound":"default","badge":1},"deeplink":"app://home"}"#;

pub fn live_token(n: u32) -> String {
    format!("{:064x}", 0xabc0_0000_u64 + u64::from(n))
}

pub fn dead_token(n: u32) -> String {
    format!("dead{:060x}", n)
}

pub struct Sandbox {
    child: Child,
    pub dir: tempfile::TempDir,
    pub ready: ReadyFile,
}

impl Sandbox {
    pub fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ready = spawn_in(dir.path(), extra);
        let (child, ready) = ready;
        Self { child, dir, ready }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{}", self.ready.http, path)
    }

    pub fn tls_url(&self, path: &str) -> String {
        format!("https://{}{}", self.ready.tls, path)
    }

    pub fn tls_port(&self) -> u16 {
        self.ready.tls.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port")
    }

    /// A provider token signed with the sandbox's generated .p8.
    pub fn apns_jwt(&self) -> String {
        self.apns_jwt_at(now_secs())
    }

    pub fn apns_jwt_at(&self, iat: i64) -> String {
        #[derive(Serialize)]
        struct Claims<'a> {
            iss: &'a str,
            iat: i64,
        }
        let pem = std::fs::read(&self.ready.apns_key).expect("p8");
        let key = EncodingKey::from_ec_pem(&pem).expect("p8 is an EC PKCS#8 key");
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.ready.apns_key_id.clone());
        jsonwebtoken::encode(&header, &Claims { iss: &self.ready.apns_team_id, iat }, &key).expect("sign")
    }

    /// An h2c (prior knowledge) client for the plain listener: every route, APNs included.
    pub fn h2c_client(&self) -> reqwest::Client {
        reqwest::Client::builder().http2_prior_knowledge().timeout(Duration::from_secs(20)).build().expect("client")
    }

    pub async fn stats(&self) -> StatsSnapshot {
        let resp = reqwest::get(self.http_url("/stats")).await.expect("GET /stats");
        assert_eq!(resp.status(), 200);
        resp.json().await.expect("stats json")
    }

    pub async fn post_config(&self, patch: serde_json::Value) -> serde_json::Value {
        let resp =
            reqwest::Client::new().post(self.http_url("/config")).json(&patch).send().await.expect("POST /config");
        assert_eq!(resp.status(), 200, "POST /config {patch}");
        resp.json().await.expect("config json")
    }

    /// Sends SIGTERM and waits (at most 15 s) for the process to exit on its own.
    /// Async so clients on this runtime keep running and can answer the server's
    /// GOAWAY/PING exchange while it drains.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "push-sandbox ignored SIGTERM for 15 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the process (SIGKILL) and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts a fresh process on the same state dir (the old one must be stopped).
    pub fn restart(&mut self, extra: &[&str]) {
        self.stop();
        let (child, ready) = spawn_in(self.dir.path(), extra);
        self.child = child;
        self.ready = ready;
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn_in(root: &Path, extra: &[&str]) -> (Child, ReadyFile) {
    let state = root.join("state");
    let log = std::fs::File::create(root.join("sandbox.log")).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_push-sandbox"))
        .arg("--state-dir")
        .arg(&state)
        .args(["--tls-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"])
        .args(extra)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn push-sandbox");
    let ready_path = state.join("ready.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(bytes) = std::fs::read(&ready_path)
            && let Ok(ready) = serde_json::from_slice::<ReadyFile>(&bytes)
            && ready.pid == child.id()
        {
            return (child, ready);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(root.join("sandbox.log")).unwrap_or_default();
            panic!("push-sandbox exited early ({status}):\n{log}");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("push-sandbox wrote no ready.json within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

/// Outside tools are part of what these tests prove: missing ones fail the test.
pub fn require_tool(name: &str, package: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let candidate = Path::new(dir).join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{name}` is required by this test and was not found on PATH; install it (Debian: apt-get install {package})"
    );
}

#[derive(Debug)]
pub struct CurlResponse {
    pub status: u16,
    pub http_version: String,
    /// Lowercased header names.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl CurlResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
}

/// Runs curl with `args` (URL included) and returns status, headers and body.
pub fn curl(args: &[&str]) -> CurlResponse {
    let curl = require_tool("curl", "curl");
    let tmp = tempfile::tempdir().expect("tempdir");
    let headers = tmp.path().join("headers");
    let body = tmp.path().join("body");
    let out = Command::new(curl)
        .args(["-sS", "--max-time", "20", "-D"])
        .arg(&headers)
        .arg("-o")
        .arg(&body)
        .args(["-w", "%{http_code} %{http_version}"])
        .args(args)
        .output()
        .expect("run curl");
    assert!(out.status.success(), "curl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stdout).to_string();
    let mut parts = summary.split_whitespace();
    let status = parts.next().and_then(|s| s.parse().ok()).expect("status");
    let http_version = parts.next().unwrap_or_default().to_owned();
    let headers = std::fs::read_to_string(&headers)
        .expect("headers")
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    CurlResponse { status, http_version, headers, body: std::fs::read_to_string(&body).unwrap_or_default() }
}

/// `curl --http2 --cacert ca.pem` to the TLS listener's APNs route.
pub fn curl_apns(sb: &Sandbox, token: &str, jwt: Option<&str>, body: &str) -> CurlResponse {
    let url = sb.tls_url(&format!("/3/device/{token}"));
    let ca = sb.ready.ca.to_string_lossy().to_string();
    let auth = jwt.map(|j| format!("authorization: bearer {j}"));
    let topic = format!("apns-topic: {TOPIC}");
    let mut args = vec!["--http2", "--cacert", ca.as_str(), "-H", topic.as_str()];
    if let Some(a) = &auth {
        args.extend(["-H", a.as_str()]);
    }
    args.extend(["-H", "apns-push-type: alert", "--data-binary", body, url.as_str()]);
    curl(&args)
}

#[derive(Debug, Default)]
pub struct H2loadSummary {
    pub total: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub errored: u64,
    pub status_2xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    pub raw: String,
}

/// Runs h2load (bounded by coreutils `timeout`) and parses its summary lines.
pub fn h2load(args: &[&str]) -> H2loadSummary {
    let h2load = require_tool("h2load", "nghttp2-client");
    let out = Command::new("timeout").arg("120").arg(h2load).args(args).output().expect("run h2load");
    let raw = String::from_utf8_lossy(&out.stdout).to_string();
    let mut s = H2loadSummary::default();
    for line in raw.lines() {
        let nums = |line: &str| -> Vec<(String, u64)> {
            line.split(':')
                .nth(1)
                .unwrap_or_default()
                .split(',')
                .filter_map(|p| {
                    let mut it = p.split_whitespace();
                    let n = it.next()?.parse().ok()?;
                    Some((it.next()?.to_owned(), n))
                })
                .collect()
        };
        if line.starts_with("requests:") {
            for (k, n) in nums(line) {
                match k.as_str() {
                    "total" => s.total = n,
                    "succeeded" => s.succeeded = n,
                    "failed" => s.failed = n,
                    "errored" => s.errored = n,
                    _ => {}
                }
            }
        } else if line.starts_with("status codes:") {
            for (k, n) in nums(line) {
                match k.as_str() {
                    "2xx" => s.status_2xx = n,
                    "4xx" => s.status_4xx = n,
                    "5xx" => s.status_5xx = n,
                    _ => {}
                }
            }
        }
    }
    assert!(out.status.success(), "h2load failed ({}): {raw}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    s.raw = raw;
    s
}

/// Writes the APNs payload h2load sends with `-d`.
pub fn payload_file(dir: &Path) -> PathBuf {
    let path = dir.join("payload.json");
    std::fs::write(&path, PAYLOAD).expect("payload");
    path
}
