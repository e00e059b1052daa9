//! `local up`: start whatever is not healthy, write stack.env, provision.

use std::collections::BTreeSet;
use std::process::Child;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use tracing::{info, warn};

use super::launch::{launch, marker};
use super::parts::{Part, Ports, StateDir};
use super::process::{self, log_tail, reap_in_background, spawn_detached};
use super::provision::{self, Provisioned};
use super::stack_env::{self, read_sandbox_ready};
use super::status::{StatusReport, status};
use super::{LocalError, StackConfig, StackRecord, health};
use crate::aws_clients;
use crate::env_file::EnvMap;

/// Parts that need nothing from the others, started together first.
const INDEPENDENT: [Part; 4] = [Part::Sandbox, Part::Moto, Part::Dynalite, Part::Ses];
/// How long a part that is being replaced gets to exit.
const STOP_GRACE: Duration = Duration::from_secs(5);
const LOG_TAIL_LINES: usize = 15;

/// What `up` did.
#[derive(Debug, Clone)]
pub struct UpReport {
    pub started: Vec<Part>,
    pub already_running: Vec<Part>,
    pub provisioned: Vec<Provisioned>,
    /// The stack.env as written.
    pub env: EnvMap,
    pub status: StatusReport,
}

/// Brings the stack described by `config` up; idempotent. Parts already
/// healthy are left alone, except `cargo lambda watch`, which is restarted
/// when stack.env changed (it reads the file only at start).
pub async fn up(config: &StackConfig) -> Result<UpReport, LocalError> {
    let state = StateDir::new(&config.state_dir);
    for dir in [state.path().to_path_buf(), state.logs(), state.pids(), state.plane_dir()] {
        create_dir(&dir)?;
    }
    write_record(config, &state)?;
    ensure_link_key(&state)?;
    ensure_vapid_key(&state)?;

    let spinner = crate::progress::spinner(config.progress, "starting the local stack");
    let mut run = Run {
        config,
        state: &state,
        client: health::http_client(),
        spinner: &spinner,
        started: Vec::new(),
        already_running: Vec::new(),
    };

    let first: Vec<Part> = INDEPENDENT.into_iter().filter(|&p| config.includes(p)).collect();
    run.start_and_wait(&first).await?;

    let sandbox = config.includes(Part::Sandbox).then(|| read_sandbox_ready(&state.sandbox_ready())).flatten();
    let env = stack_env::render(config, sandbox.as_ref());
    let env_path = state.stack_env();
    let changed = std::fs::read_to_string(&env_path).ok().as_deref() != Some(env.render().as_str());
    env.write(&env_path)?;

    if config.includes(Part::Watch) {
        if changed && process::read_pid(&state.pid_file(Part::Watch)).is_some() {
            info!(part = "watch", "stack.env changed; restarting cargo lambda watch");
            spinner.set_message("restarting watch (stack.env changed)");
            process::stop(&state.pid_file(Part::Watch), marker(Part::Watch), STOP_GRACE)?;
        }
        run.start_and_wait(&[Part::Watch]).await?;
    }
    if config.includes(Part::EventPlane) {
        run.start_and_wait(&[Part::EventPlane]).await?;
    }

    spinner.set_message("creating bucket and tables");
    let provisioned = provision_resources(config, &env).await?;
    spinner.set_message("checking health");
    let status = status(&config.state_dir, config.ports(), &config.parts).await;
    spinner.finish_and_clear();
    Ok(UpReport { started: run.started, already_running: run.already_running, provisioned, env, status })
}

fn create_dir(dir: &std::path::Path) -> Result<(), LocalError> {
    std::fs::create_dir_all(dir).map_err(|source| LocalError::Io { path: dir.to_path_buf(), source })
}

/// A random link-signing key for the local approval flow, kept across
/// restarts so that links in already-sent mail stay valid.
fn ensure_link_key(state: &StateDir) -> Result<(), LocalError> {
    let path = state.approval_link_key();
    if path.exists() {
        return Ok(());
    }
    let key: [u8; 32] = rand::random();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&path, hex).map_err(|source| LocalError::Io { path, source })
}

/// A VAPID key for send-batch's Web Push client: the base64url 32-byte
/// private scalar web-push tools generate (random bytes are a valid P-256
/// key but with negligible probability), kept across restarts so that
/// subscriptions made for it stay valid.
fn ensure_vapid_key(state: &StateDir) -> Result<(), LocalError> {
    use base64::Engine as _;
    let path = state.vapid_key();
    if path.exists() {
        return Ok(());
    }
    let key: [u8; 32] = rand::random();
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key);
    std::fs::write(&path, text).map_err(|source| LocalError::Io { path, source })
}

fn write_record(config: &StackConfig, state: &StateDir) -> Result<(), LocalError> {
    let record = StackRecord {
        port_base: config.port_base,
        parts: config.parts.iter().map(|p| p.name().to_string()).collect(),
        root: config.root.clone(),
    };
    let path = state.stack_json();
    // Fails for a root that is not UTF-8: say so, as an empty stack.json would
    // make `status` fall back to the default ports without a word.
    let text =
        serde_json::to_string_pretty(&record).map_err(|e| LocalError::Io { path: path.clone(), source: e.into() })?;
    std::fs::write(&path, text).map_err(|source| LocalError::Io { path, source })
}

async fn provision_resources(config: &StackConfig, env: &EnvMap) -> Result<Vec<Provisioned>, LocalError> {
    let mut done = Vec::new();
    // Provision against the emulators directly: creating a bucket is not
    // an object event, so there is no reason to go through the plane.
    let mut direct = env.clone();
    direct.set("AWS_ENDPOINT_URL_S3", super::parts::http_url(config.ports().moto()));
    let sdk = aws_clients::sdk_config(&direct).await;
    if config.includes(Part::Moto) {
        let s3 = aws_clients::s3(&sdk, &direct);
        let bucket = env.get_or(shared::schema::BUCKET_ENV, &config.bucket);
        done.push(provision::ensure_bucket(&s3, bucket).await?);
    }
    if config.includes(Part::Dynalite) {
        let dynamodb = aws_clients::dynamodb(&sdk, &direct);
        done.extend(provision::ensure_tables(&dynamodb, env).await?);
    }
    Ok(done)
}

struct Run<'a> {
    config: &'a StackConfig,
    state: &'a StateDir,
    client: reqwest::Client,
    spinner: &'a ProgressBar,
    started: Vec<Part>,
    already_running: Vec<Part>,
}

impl Run<'_> {
    /// Starts each of `parts` that is not healthy, then waits for all of
    /// them together.
    async fn start_and_wait(&mut self, parts: &[Part]) -> Result<(), LocalError> {
        let mut children: Vec<(Part, Child)> = Vec::new();
        for &part in parts {
            if self.healthy(part).await.is_ok() {
                info!(part = part.name(), "already running");
                self.already_running.push(part);
                continue;
            }
            // A recorded process that is not healthy is ours but stuck (or
            // half started by an interrupted `up`): replace it.
            let pid_file = self.state.pid_file(part);
            let stopped = process::stop(&pid_file, marker(part), STOP_GRACE)?;
            if stopped != process::StopOutcome::NotRunning {
                warn!(part = part.name(), outcome = ?stopped, "replaced an unhealthy process");
            }
            let launch = launch(self.config, part)?;
            if part == Part::Watch {
                // The functions' EMF lines from here on are this stack's metrics.
                crate::metrics::collect::Collector::new(self.state.log_file(part), &self.state.path().join("metrics"))
                    .begin()
                    .map_err(|e| LocalError::Provision {
                        what: "the metrics collection".into(),
                        message: e.to_string(),
                    })?;
            }
            let child = spawn_detached(&launch, &self.state.log_file(part), &pid_file)?;
            info!(part = part.name(), pid = child.id(), "started");
            children.push((part, child));
        }
        if children.is_empty() {
            return Ok(());
        }
        let pending: Mutex<BTreeSet<Part>> = Mutex::new(children.iter().map(|(p, _)| *p).collect());
        self.show_pending(&pending);
        let this = &*self;
        let waits = children.into_iter().map(|(part, child)| {
            let pending = &pending;
            async move {
                let result = this.wait_healthy(part, child).await;
                if let Ok(mut set) = pending.lock() {
                    set.remove(&part);
                }
                this.show_pending(pending);
                result.map(|()| part)
            }
        });
        let started = futures::future::try_join_all(waits).await?;
        self.started.extend(started);
        Ok(())
    }

    fn show_pending(&self, pending: &Mutex<BTreeSet<Part>>) {
        if let Ok(set) = pending.lock()
            && !set.is_empty()
        {
            let names: Vec<&str> = set.iter().map(|p| p.name()).collect();
            self.spinner.set_message(format!("waiting for {}", names.join(", ")));
        }
    }

    /// Polls until `part` is healthy, failing early if it exits and with
    /// its log's tail if the deadline passes (the process is then stopped).
    async fn wait_healthy(&self, part: Part, mut child: Child) -> Result<(), LocalError> {
        let started = Instant::now();
        let timeout = part.start_timeout();
        let log = self.state.log_file(part);
        loop {
            if let Ok(Some(exit)) = child.try_wait() {
                return Err(LocalError::Exited {
                    part,
                    status: exit.to_string(),
                    tail: log_tail(&log, LOG_TAIL_LINES),
                    log,
                });
            }
            let reason = match self.healthy(part).await {
                Ok(()) => {
                    info!(part = part.name(), ms = started.elapsed().as_millis() as u64, "healthy");
                    reap_in_background(child);
                    return Ok(());
                }
                Err(reason) => reason,
            };
            if started.elapsed() > timeout {
                let pid_file = self.state.pid_file(part);
                process::stop(&pid_file, marker(part), STOP_GRACE)?;
                reap_in_background(child);
                return Err(LocalError::NotHealthy {
                    part,
                    secs: timeout.as_secs(),
                    reason,
                    tail: log_tail(&log, LOG_TAIL_LINES),
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A part is healthy when all its endpoints are; the sandbox also needs
    /// its ready file for this port (stack.env takes credentials from it).
    async fn healthy(&self, part: Part) -> Result<(), String> {
        let ports: Ports = self.config.ports();
        for &endpoint in part.endpoints() {
            health::check(&self.client, endpoint, ports)
                .await
                .map_err(|reason| format!("{}: {reason}", endpoint.name()))?;
        }
        if part == Part::Sandbox {
            let expected = super::parts::listen_addr(ports.sandbox_http());
            match read_sandbox_ready(&self.state.sandbox_ready()) {
                Some(ready) if ready.http == expected => {}
                Some(ready) => {
                    return Err(format!("ready.json is for {}, not {expected}", ready.http));
                }
                None => return Err("no ready.json yet".to_string()),
            }
        }
        Ok(())
    }
}
