//! Listeners, connections and the sandbox's lifecycle.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::app::{App, FixedSettings};
use crate::args::Args;
use crate::credentials::{self, CredentialSpec, Credentials, ReadyFile};
use crate::dead::DeadRule;
use crate::error::SandboxError;
use crate::faults;
use crate::knobs::Knobs;
use crate::message_ids::MessageIds;
use crate::provider_token::ProviderTokenVerifier;
use crate::router;
use crate::stats::{Counter, Stats, StatsSnapshot};
use crate::token_endpoint::TokenEndpoint;
use crate::webpush::store::Subscriptions;

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

type Builder = auto::Builder<TokioExecutor>;

/// A running sandbox. Dropping it without `shutdown` leaves the tasks running until
/// the runtime ends.
pub struct Sandbox {
    pub tls_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub ready: ReadyFile,
    state_dir: std::path::PathBuf,
    app: Arc<App>,
    shutdown: watch::Sender<bool>,
    listeners: JoinSet<()>,
}

impl Sandbox {
    /// Binds both listeners, prepares the state dir, starts serving and writes
    /// ready.json (last).
    pub async fn start(args: Args) -> Result<Self, SandboxError> {
        args.validate()?;
        faults::init_seed(args.seed);
        std::fs::create_dir_all(&args.state_dir).map_err(|source| SandboxError::Io {
            what: "creating --state-dir",
            path: args.state_dir.clone(),
            source,
        })?;
        credentials::remove_ready(&args.state_dir)?;

        let tls_listener = bind(args.tls_listen).await?;
        let http_listener = bind(args.http_listen).await?;
        let tls_addr = local_addr(&tls_listener, args.tls_listen)?;
        let http_addr = local_addr(&http_listener, args.http_listen)?;

        let creds = credentials::prepare(&CredentialSpec {
            state_dir: &args.state_dir,
            fcm_project: &args.fcm_project,
            http_addr,
            apns_public_key: args.apns_public_key.as_deref(),
        })?;
        let app = Arc::new(build_app(&args, &creds, tls_addr, http_addr)?);
        let acceptor = TlsAcceptor::from(Arc::new(tls_config(&creds)?));
        let builder = Arc::new(connection_builder(args.max_streams));

        let (shutdown, _) = watch::channel(false);
        let mut listeners = JoinSet::new();
        listeners.spawn(accept_loop(tls_listener, Some(acceptor), app.clone(), builder.clone(), shutdown.subscribe()));
        listeners.spawn(accept_loop(http_listener, None, app.clone(), builder, shutdown.subscribe()));

        let ready = ReadyFile {
            tls: tls_addr.to_string(),
            http: http_addr.to_string(),
            ca: creds.ca_path.clone(),
            apns_key: creds.apns_key_path.clone(),
            apns_key_id: args.apns_key_id.clone(),
            apns_team_id: args.apns_team_id.clone(),
            fcm_service_account: creds.fcm_service_account_path.clone(),
            fcm_project: args.fcm_project.clone(),
            pid: std::process::id(),
        };
        credentials::write_ready(&args.state_dir, &ready)?;
        tracing::info!(
            tls = %tls_addr,
            http = %http_addr,
            state_dir = %args.state_dir.display(),
            max_streams = args.max_streams,
            dead_listed = app.dead.listed_count(),
            "push-sandbox ready"
        );
        Ok(Self { tls_addr, http_addr, ready, state_dir: args.state_dir.clone(), app, shutdown, listeners })
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.app.stats.snapshot(self.app.knobs.track_tokens())
    }

    pub fn knobs(&self) -> &Knobs {
        &self.app.knobs
    }

    /// Stops accepting, asks every connection to finish (GOAWAY on HTTP/2), waits
    /// up to a few seconds for them, and removes ready.json (nothing listens any more).
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.listeners.join_next().await.is_some() {}
        if let Err(e) = credentials::remove_ready(&self.state_dir) {
            tracing::warn!(error = %e, "could not remove ready.json");
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, SandboxError> {
    TcpListener::bind(addr).await.map_err(|source| SandboxError::Bind { addr, source })
}

fn local_addr(listener: &TcpListener, asked: SocketAddr) -> Result<SocketAddr, SandboxError> {
    listener.local_addr().map_err(|source| SandboxError::Bind { addr: asked, source })
}

fn build_app(
    args: &Args,
    creds: &Credentials,
    tls_addr: SocketAddr,
    http_addr: SocketAddr,
) -> Result<App, SandboxError> {
    let apns =
        ProviderTokenVerifier::new(&creds.apns_public_key_pem, &args.apns_key_id, &args.apns_team_id).map_err(|e| {
            SandboxError::BadCredential {
                what: "APNs public key",
                path: creds.apns_key_path.clone(),
                reason: e.to_string(),
            }
        })?;
    // Accept the token_uri written in the service-account file and its equivalents
    // (localhost, or the TLS listener), as clients may rewrite the host.
    let audiences: Vec<String> = [
        format!("http://{http_addr}/token"),
        format!("http://localhost:{}/token", http_addr.port()),
        format!("https://{tls_addr}/token"),
        format!("https://localhost:{}/token", tls_addr.port()),
        creds.fcm_token_uri.clone(),
    ]
    .into();
    let oauth =
        TokenEndpoint::new(&creds.fcm_public_key_pem, &creds.fcm_client_email, &creds.fcm_private_key_id, &audiences)
            .map_err(|e| SandboxError::BadCredential {
            what: "FCM service account key",
            path: creds.fcm_service_account_path.clone(),
            reason: e.to_string(),
        })?;
    let dead = DeadRule::load(&args.dead_prefix, args.dead_tokens_file.as_deref())?;
    Ok(App {
        knobs: Knobs::from_args(args),
        stats: Stats::default(),
        fixed: FixedSettings {
            max_streams: args.max_streams,
            dead_prefix: args.dead_prefix.clone(),
            dead_tokens_listed: dead.listed_count(),
            apns_key_id: args.apns_key_id.clone(),
            apns_team_id: args.apns_team_id.clone(),
            fcm_project: args.fcm_project.clone(),
        },
        dead,
        apns,
        oauth,
        fcm_project: args.fcm_project.clone(),
        fcm_ids: MessageIds::default(),
        webpush: Subscriptions::new(format!("https://{tls_addr}"), format!("http://{http_addr}")),
        token_apps: Default::default(),
    })
}

fn tls_config(creds: &Credentials) -> Result<rustls::ServerConfig, SandboxError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(creds.server_certs.clone(), creds.server_key.clone_key())?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn connection_builder(max_streams: u32) -> Builder {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).keep_alive(true);
    builder.http2().timer(TokioTimer::new()).max_concurrent_streams(max_streams);
    builder
}

/// Per-connection state: streams served, and the GOAWAY trigger for `goaway_after`.
#[derive(Default)]
struct ConnState {
    streams: AtomicU64,
    goaway_requested: AtomicBool,
    goaway: Notify,
}

impl ConnState {
    fn on_request(&self, goaway_after: u64) {
        let n = self.streams.fetch_add(1, Relaxed) + 1;
        if goaway_after > 0 && n >= goaway_after && !self.goaway_requested.swap(true, Relaxed) {
            // notify_one stores a permit, so the connection task cannot miss it.
            self.goaway.notify_one();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Arc<App>,
    builder: Arc<Builder>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    // Small responses on many streams: do not wait for Nagle.
                    let _ = tcp.set_nodelay(true);
                    app.stats.add(Counter::Connections);
                    tracing::debug!(%peer, tls = tls.is_some(), "connection accepted");
                    let (app, builder, shutdown) = (app.clone(), builder.clone(), shutdown.clone());
                    match tls.clone() {
                        Some(acceptor) => conns.spawn(async move {
                            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                                Ok(Ok(stream)) => serve(stream, app, builder, shutdown).await,
                                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                            }
                        }),
                        None => conns.spawn(serve(tcp, app, builder, shutdown)),
                    };
                }
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::debug!(left = conns.len(), "connections still open at shutdown; aborting");
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
}

async fn serve<I>(io: I, app: Arc<App>, builder: Arc<Builder>, mut shutdown: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let state = Arc::new(ConnState::default());
    let svc = {
        let (app, state) = (app.clone(), state.clone());
        service_fn(move |req| {
            let (app, state) = (app.clone(), state.clone());
            async move {
                state.on_request(app.knobs.goaway_after());
                Ok::<_, Infallible>(router::route(&app, req).await)
            }
        })
    };
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "connection ended with error");
                }
                break;
            }
            _ = state.goaway.notified(), if !closing => {
                closing = true;
                app.stats.add(Counter::Goaways);
                tracing::debug!(streams = state.streams.load(Relaxed), "goaway-after reached");
                conn.as_mut().graceful_shutdown();
            }
            _ = shutdown.changed(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
