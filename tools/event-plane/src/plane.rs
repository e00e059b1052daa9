//! Wires the listeners, the queue and the deliverer together.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::dead_letter::DeadLetters;
use crate::delivery::{Deliverer, RetryPolicy};
use crate::gateway::{Apis, Gateway, GatewayError, IamCredential, IamVerifier, Wiring};
use crate::http::new_client;
use crate::issuer::{Directory, Issuer, KeyError, SigningKey};
use crate::lambda_api::LambdaApi;
use crate::queue::Queue;
use crate::routes::Routes;
use crate::s3_head::S3Head;
use crate::s3_notify::Notifier;
use crate::s3_proxy::S3Proxy;
use crate::scheduler::Scheduler;
use crate::server::serve;
use crate::stats::Stats;

#[derive(Debug, Clone)]
pub struct PlaneConfig {
    pub s3_listen: SocketAddr,
    pub s3_upstream: Uri,
    pub lambda_listen: SocketAddr,
    pub lambda_upstream: Uri,
    pub routes: Routes,
    pub state_dir: PathBuf,
    pub retries: u32,
    pub retry_delays: Vec<Duration>,
    pub max_concurrency: usize,
    pub region: String,
    /// The HTTP API gateway, when the plane runs one.
    pub gateway: Option<GatewayConfig>,
    /// The local OIDC issuer, when the plane runs one.
    pub issuer: Option<IssuerConfig>,
    /// Now, for the gateway's token and signature checks and the issuer's tokens.
    pub clock: Arc<dyn Clock>,
    /// Now, for Scheduler's `at()` schedules (a clock file in tests).
    pub schedule_clock: Arc<dyn Clock>,
    /// The account in Scheduler's ARNs.
    pub account_id: String,
}

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    pub apis: Apis,
    /// The credentials IAM routes accept; without them those routes answer 403.
    pub iam: Option<IamCredential>,
    /// The integration timeout.
    pub timeout: Duration,
    /// `requestContext.accountId`.
    pub account_id: String,
}

/// The issuer has a listener of its own, not a path on the gateway's: no
/// API route (`$default`, `ANY /{proxy+}`) can then shadow it, and it is a
/// different origin from the APIs, as Cognito is from execute-api.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    pub listen: SocketAddr,
    pub directory: Directory,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("binding {what} listener on {addr}: {source}")]
    Bind { what: &'static str, addr: SocketAddr, source: std::io::Error },
    #[error("creating state directory {path}: {source}")]
    StateDir { path: PathBuf, source: std::io::Error },
    #[error("{what} upstream {uri} must be an http:// URL with a host and port")]
    Upstream { what: &'static str, uri: Uri },
    #[error("starting the gateway: {0}")]
    Gateway(#[from] GatewayError),
    #[error("starting the issuer: {0}")]
    IssuerKey(#[from] KeyError),
}

/// A running plane. Dropping it stops the listeners and the deliverer.
pub struct Plane {
    s3_addr: SocketAddr,
    lambda_addr: SocketAddr,
    gateway_addr: Option<SocketAddr>,
    issuer_url: Option<String>,
    queue: Arc<Queue>,
    tasks: Vec<JoinHandle<()>>,
}

impl Plane {
    pub async fn start(config: PlaneConfig) -> Result<Plane, StartError> {
        check_upstream("S3", &config.s3_upstream)?;
        check_upstream("Lambda", &config.lambda_upstream)?;
        tokio::fs::create_dir_all(&config.state_dir)
            .await
            .map_err(|source| StartError::StateDir { path: config.state_dir.clone(), source })?;
        let s3_listener = bind("S3", config.s3_listen).await?;
        let lambda_listener = bind("Lambda", config.lambda_listen).await?;
        let s3_addr = local_addr("S3", &s3_listener, config.s3_listen)?;
        let lambda_addr = local_addr("Lambda", &lambda_listener, config.lambda_listen)?;
        let mut tasks = Vec::new();

        let issuer = match config.issuer {
            Some(issuer) => {
                let listener = bind("issuer", issuer.listen).await?;
                let addr = local_addr("issuer", &listener, issuer.listen)?;
                let url = format!("http://{addr}");
                let key = SigningKey::generate()?;
                let issuer = Arc::new(Issuer::new(url.clone(), key, issuer.directory, Arc::clone(&config.clock)));
                tasks.push(tokio::spawn(serve(
                    listener,
                    move |req, peer| Arc::clone(&issuer).handle(req, peer),
                    "issuer",
                )));
                Some(url)
            }
            None => None,
        };
        let gateway_addr = match config.gateway {
            Some(gateway) => {
                let listener = bind("gateway", gateway.listen).await?;
                let addr = local_addr("gateway", &listener, gateway.listen)?;
                let iam = gateway.iam.map(|credential| IamVerifier {
                    credential,
                    region: config.region.clone(),
                    account_id: gateway.account_id.clone(),
                });
                let wiring = Wiring {
                    local_issuer: issuer.clone(),
                    iam,
                    client: new_client(),
                    upstream: config.lambda_upstream.clone(),
                    timeout: gateway.timeout,
                    clock: Arc::clone(&config.clock),
                    account_id: gateway.account_id,
                    listen_port: addr.port(),
                };
                let gateway = Arc::new(Gateway::new(gateway.apis, wiring)?);
                tasks.push(tokio::spawn(serve(
                    listener,
                    move |req, peer| Arc::clone(&gateway).handle(req, peer),
                    "gateway",
                )));
                Some(addr)
            }
            None => None,
        };

        let queue = Arc::new(Queue::default());
        let stats = Arc::new(Stats::default());
        let s3_client = new_client();
        let lambda_client = new_client();

        let head = S3Head::new(&config.s3_upstream, &config.region);
        let notifier =
            Arc::new(Notifier::new(config.routes, config.region.clone(), head, Arc::clone(&queue), Arc::clone(&stats)));
        let proxy =
            Arc::new(S3Proxy { upstream: config.s3_upstream, client: s3_client, notifier: Arc::clone(&notifier) });
        let scheduler = Arc::new(Scheduler::new(
            Arc::clone(&config.schedule_clock),
            Arc::clone(&queue),
            &config.region,
            &config.account_id,
        ));
        tasks.push(tokio::spawn(Arc::clone(&scheduler).run()));
        let api = Arc::new(LambdaApi {
            upstream: config.lambda_upstream.clone(),
            client: lambda_client.clone(),
            queue: Arc::clone(&queue),
            stats: Arc::clone(&stats),
            notifier,
            gateway: gateway_addr,
            issuer: issuer.clone(),
            scheduler,
        });
        let deliverer = Arc::new(Deliverer {
            client: lambda_client,
            upstream: config.lambda_upstream,
            policy: RetryPolicy { retries: config.retries, delays: config.retry_delays },
            queue: Arc::clone(&queue),
            stats,
            dead_letters: DeadLetters::new(&config.state_dir),
        });

        tasks.extend([
            tokio::spawn(serve(s3_listener, move |req, peer| Arc::clone(&proxy).handle(req, peer), "s3")),
            tokio::spawn(serve(lambda_listener, move |req, peer| Arc::clone(&api).handle(req, peer), "lambda")),
            tokio::spawn(deliverer.run(config.max_concurrency)),
        ]);
        Ok(Plane { s3_addr, lambda_addr, gateway_addr, issuer_url: issuer, queue, tasks })
    }

    pub fn gateway_addr(&self) -> Option<SocketAddr> {
        self.gateway_addr
    }

    /// The issuer's URL (`iss` of its tokens), when it runs.
    pub fn issuer_url(&self) -> Option<&str> {
        self.issuer_url.as_deref()
    }

    pub fn s3_addr(&self) -> SocketAddr {
        self.s3_addr
    }

    pub fn lambda_addr(&self) -> SocketAddr {
        self.lambda_addr
    }

    /// Invocations accepted but not yet finished (queued, waiting for a
    /// retry, or being delivered); these are lost when the plane stops.
    pub fn pending(&self) -> usize {
        let counts = self.queue.counts();
        counts.queued + counts.in_flight
    }

    /// Stops accepting connections and delivering.
    pub fn stop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Drop for Plane {
    fn drop(&mut self) {
        self.stop();
    }
}

fn check_upstream(what: &'static str, uri: &Uri) -> Result<(), StartError> {
    // Only plain HTTP: the emulators listen on loopback without TLS.
    if uri.scheme_str() == Some("http") && uri.host().is_some() {
        Ok(())
    } else {
        Err(StartError::Upstream { what, uri: uri.clone() })
    }
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr).await.map_err(|source| StartError::Bind { what, addr, source })
}

fn local_addr(what: &'static str, listener: &TcpListener, addr: SocketAddr) -> Result<SocketAddr, StartError> {
    listener.local_addr().map_err(|source| StartError::Bind { what, addr, source })
}
