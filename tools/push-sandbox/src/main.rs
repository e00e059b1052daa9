use anyhow::Context as _;
use clap::Parser as _;
use push_sandbox::{Args, Sandbox};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();

    let args = Args::parse();
    let sandbox = Sandbox::start(args).await.context("starting push-sandbox")?;

    wait_for_signal().await?;
    let stats = sandbox.stats();
    tracing::info!(
        apns_requests = stats.apns.requests,
        apns_delivered = stats.apns.delivered,
        fcm_requests = stats.fcm.requests,
        fcm_delivered = stats.fcm.delivered,
        "push-sandbox stopping"
    );
    sandbox.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}
