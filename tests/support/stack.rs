//! One local stack for a test.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use pushbatch::env_file::EnvMap;
use pushbatch::local::{self, Part, Ports, StackConfig, StatusReport, UpReport};
use serde_json::Value;

use crate::build::{ensure_workspace_bins, target_dir};
use crate::ports::free_port_base;

/// What to run and with which function settings.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Parts to run (all by default). A subset starts faster, e.g. only
    /// dynalite for seeding tests.
    pub parts: Vec<Part>,
    /// Extra function environment written into stack.env (MAX_RUN_SECONDS,
    /// BATCH_SIZE, …).
    pub fn_env: Vec<(String, String)>,
    /// Extra push-sandbox arguments.
    pub sandbox_args: Vec<String>,
    /// Extra event-plane arguments (e.g. `--retry-delays-ms=100,200`).
    pub plane_args: Vec<String>,
    /// Extra `cargo lambda watch` arguments (e.g. `--concurrency=5`, so
    /// that a sharded job's chains run at once).
    pub watch_args: Vec<String>,
    /// Where push-sandbox and the event plane are taken from (the test's
    /// own profile by default); benchmarks use the release builds.
    pub bin_dir: Option<std::path::PathBuf>,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            parts: Part::ALL.to_vec(),
            fn_env: Vec::new(),
            sandbox_args: Vec::new(),
            plane_args: Vec::new(),
            watch_args: Vec::new(),
            bin_dir: None,
        }
    }
}

impl StackOptions {
    /// Only these parts.
    pub fn only(parts: &[Part]) -> Self {
        Self { parts: parts.to_vec(), ..Self::default() }
    }

    /// Adds one function variable.
    pub fn fn_env(mut self, key: &str, value: impl ToString) -> Self {
        self.fn_env.push((key.to_string(), value.to_string()));
        self
    }
}

/// A running stack; dropping it stops every part.
pub struct Stack {
    config: StackConfig,
    env: BTreeMap<String, String>,
    up: UpReport,
    http: reqwest::Client,
    stopped: bool,
    // Last, so the directory outlives the processes writing into it.
    _state: tempfile::TempDir,
}

impl Stack {
    /// Starts the stack on a free run of ports in a fresh temporary state
    /// directory; on failure whatever started is stopped again.
    pub async fn start(opts: StackOptions) -> anyhow::Result<Stack> {
        if opts.parts.contains(&Part::Sandbox) || opts.parts.contains(&Part::EventPlane) {
            ensure_workspace_bins()?;
        }
        let state = tempfile::Builder::new().prefix("pushbatch-stack-").tempdir()?;
        let root =
            pushbatch::context::find_workspace_root(Path::new(env!("CARGO_MANIFEST_DIR"))).context("workspace root")?;
        let mut config = StackConfig::new(root, state.path());
        config.port_base = free_port_base()?;
        config.parts = opts.parts;
        config.fn_env = opts.fn_env.into_iter().collect::<EnvMap>();
        // `scripts/test` points every stack of a run at one directory of
        // AWS call logs, which tests/least_privilege.rs then checks.
        let call_log = shared::aws::calls::CALL_LOG_ENV;
        if let (Some(dir), None) = (std::env::var_os(call_log), config.fn_env.get(call_log)) {
            config.fn_env.set(call_log, dir.to_string_lossy());
        }
        // Edits by others while a test runs must not rebuild functions.
        config.ignore_changes = true;
        config.cargo_target_dir = Some(target_dir()?);
        config.bin_dir = Some(opts.bin_dir.unwrap_or_else(local::launch::default_bin_dir));
        config.extra_args.insert(Part::Sandbox, opts.sandbox_args);
        config.extra_args.insert(Part::EventPlane, opts.plane_args);
        config.extra_args.insert(Part::Watch, opts.watch_args);

        let up = match local::up(&config).await {
            Ok(up) => up,
            Err(e) => {
                let _ = local::down(state.path());
                return Err(anyhow::Error::new(e).context("starting the local stack"));
            }
        };
        let env = up.env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let http = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build()?;
        Ok(Stack { config, env, up, http, stopped: false, _state: state })
    }

    /// stack.env as a map.
    pub fn env(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// One variable of stack.env, or an error naming it.
    pub fn var(&self, key: &str) -> anyhow::Result<&str> {
        self.env.get(key).map(String::as_str).with_context(|| format!("{key} is not in stack.env"))
    }

    pub fn config(&self) -> &StackConfig {
        &self.config
    }

    /// What `up` reported when the stack started.
    pub fn up_report(&self) -> &UpReport {
        &self.up
    }

    pub fn state_dir(&self) -> &Path {
        &self.config.state_dir
    }

    pub fn ports(&self) -> Ports {
        self.config.ports()
    }

    pub fn bucket(&self) -> &str {
        self.env.get(shared::schema::BUCKET_ENV).map_or(self.config.bucket.as_str(), String::as_str)
    }

    fn env_map(&self) -> EnvMap {
        self.env.iter().collect()
    }

    /// S3 through the event plane's proxy (path-style), as functions see it.
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let env = self.env_map();
        pushbatch::aws_clients::s3(&pushbatch::aws_clients::sdk_config(&env).await, &env)
    }

    /// DynamoDB (dynalite).
    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let env = self.env_map();
        pushbatch::aws_clients::dynamodb(&pushbatch::aws_clients::sdk_config(&env).await, &env)
    }

    /// Lambda through the event plane (async `Event` invokes are queued).
    pub async fn lambda(&self) -> anyhow::Result<aws_sdk_lambda::Client> {
        let env = self.env_map();
        let sdk = pushbatch::aws_clients::sdk_config(&env).await;
        let config =
            aws_sdk_lambda::config::Builder::from(&sdk).endpoint_url(self.var("AWS_ENDPOINT_URL_LAMBDA")?).build();
        Ok(aws_sdk_lambda::Client::from_conf(config))
    }

    /// A plain HTTP client for the stack's test hooks.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Health of every part, as `pushbatch local status` reports it.
    pub async fn status(&self) -> StatusReport {
        local::status(&self.config.state_dir, self.ports(), &self.config.parts).await
    }

    /// push-sandbox's `GET /stats`.
    pub async fn sandbox_stats(&self) -> anyhow::Result<Value> {
        self.get_json(&format!("{}/stats", self.var("SANDBOX_URL")?)).await
    }

    /// The last APNs payload push-sandbox delivered to `token` (with
    /// `--track-tokens`).
    pub async fn sandbox_payload(&self, token: &str) -> anyhow::Result<Value> {
        self.get_json(&format!("{}/payloads/{token}", self.var("SANDBOX_URL")?)).await
    }

    /// push-sandbox's `POST /stats/reset`.
    pub async fn sandbox_reset_stats(&self) -> anyhow::Result<()> {
        let url = format!("{}/stats/reset", self.var("SANDBOX_URL")?);
        self.http.post(&url).send().await?.error_for_status()?;
        Ok(())
    }

    /// push-sandbox's `POST /config` with a partial set of knobs.
    pub async fn sandbox_config(&self, knobs: &Value) -> anyhow::Result<Value> {
        let url = format!("{}/config", self.var("SANDBOX_URL")?);
        let response = self.http.post(&url).json(knobs).send().await?.error_for_status()?;
        Ok(response.json().await?)
    }

    /// The event plane's `GET /_plane/invocations` (last delivery records).
    pub async fn plane_invocations(&self) -> anyhow::Result<Vec<Value>> {
        let url = format!("{}/_plane/invocations", self.var("EVENT_PLANE_URL")?);
        let value = self.get_json(&url).await?;
        match value {
            Value::Array(records) => Ok(records),
            other => anyhow::bail!("{url}: expected a JSON array, got {other}"),
        }
    }

    /// The event plane's `GET /_plane/stats`.
    pub async fn plane_stats(&self) -> anyhow::Result<Value> {
        self.get_json(&format!("{}/_plane/stats", self.var("EVENT_PLANE_URL")?)).await
    }

    async fn get_json(&self, url: &str) -> anyhow::Result<Value> {
        let response = self.http.get(url).send().await.with_context(|| format!("GET {url}"))?.error_for_status()?;
        Ok(response.json().await?)
    }

    /// The tail of a part's log, for failure messages.
    pub fn log_tail(&self, part: Part, lines: usize) -> String {
        let state = local::StateDir::new(&self.config.state_dir);
        local::process::log_tail(&state.log_file(part), lines)
    }

    /// Stops every part (as `pushbatch local down`); also done on drop.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        local::down(&self.config.state_dir)?;
        Ok(())
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("stopping the local stack: {e:#}");
        }
    }
}
