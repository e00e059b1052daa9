//! Wires the listeners, the queue and the deliverer together.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::dead_letter::DeadLetters;
use crate::delivery::{Deliverer, RetryPolicy};
use crate::http::new_client;
use crate::lambda_api::LambdaApi;
use crate::queue::Queue;
use crate::routes::Routes;
use crate::s3_head::S3Head;
use crate::s3_notify::Notifier;
use crate::s3_proxy::S3Proxy;
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
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("binding {what} listener on {addr}: {source}")]
    Bind { what: &'static str, addr: SocketAddr, source: std::io::Error },
    #[error("creating state directory {path}: {source}")]
    StateDir { path: PathBuf, source: std::io::Error },
    #[error("{what} upstream {uri} must be an http:// URL with a host and port")]
    Upstream { what: &'static str, uri: Uri },
}

/// A running plane. Dropping it stops the listeners and the deliverer.
pub struct Plane {
    s3_addr: SocketAddr,
    lambda_addr: SocketAddr,
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

        let queue = Arc::new(Queue::default());
        let stats = Arc::new(Stats::default());
        let s3_client = new_client();
        let lambda_client = new_client();

        let head = S3Head::new(&config.s3_upstream, &config.region);
        let notifier =
            Arc::new(Notifier::new(config.routes, config.region, head, Arc::clone(&queue), Arc::clone(&stats)));
        let proxy =
            Arc::new(S3Proxy { upstream: config.s3_upstream, client: s3_client, notifier: Arc::clone(&notifier) });
        let api = Arc::new(LambdaApi {
            upstream: config.lambda_upstream.clone(),
            client: lambda_client.clone(),
            queue: Arc::clone(&queue),
            stats: Arc::clone(&stats),
            notifier,
        });
        let deliverer = Arc::new(Deliverer {
            client: lambda_client,
            upstream: config.lambda_upstream,
            policy: RetryPolicy { retries: config.retries, delays: config.retry_delays },
            queue: Arc::clone(&queue),
            stats,
            dead_letters: DeadLetters::new(&config.state_dir),
        });

        let tasks = vec![
            tokio::spawn(serve(s3_listener, move |req, peer| Arc::clone(&proxy).handle(req, peer), "s3")),
            tokio::spawn(serve(lambda_listener, move |req, peer| Arc::clone(&api).handle(req, peer), "lambda")),
            tokio::spawn(deliverer.run(config.max_concurrency)),
        ];
        Ok(Plane { s3_addr, lambda_addr, queue, tasks })
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
