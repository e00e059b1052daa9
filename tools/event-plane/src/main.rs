use anyhow::Context as _;
use clap::Parser as _;
use event_plane::Plane;
use event_plane::cli::Cli;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();

    let cli = Cli::parse();
    let routes_path = cli.routes.clone();
    let config = cli.into_config().context("loading configuration")?;
    tracing::info!(
        routes = %routes_path.display(),
        count = config.routes.routes.len(),
        retries = config.retries,
        max_concurrency = config.max_concurrency,
        "routes loaded"
    );
    if let Some(gateway) = &config.gateway
        && gateway.iam.is_none()
        && gateway.apis.uses_iam()
    {
        tracing::warn!("no AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY: every IAM route will answer 403");
    }
    let mut plane = Plane::start(config).await.context("starting event-plane")?;
    tracing::info!(
        s3 = %plane.s3_addr(),
        lambda = %plane.lambda_addr(),
        gateway = plane.gateway_addr().map(|a| a.to_string()),
        issuer = plane.issuer_url(),
        "event-plane listening"
    );

    wait_for_signal().await?;
    let pending = plane.pending();
    if pending > 0 {
        tracing::warn!(pending, "stopping with undelivered asynchronous invocations");
    }
    plane.stop();
    tracing::info!("event-plane stopped");
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
