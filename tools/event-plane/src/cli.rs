//! Command line (and `EVENT_PLANE_*` environment) of the binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use http::Uri;

use crate::plane::PlaneConfig;
use crate::routes::{Routes, RoutesError};

/// Local-only glue for the pushbatch stack: S3 ObjectCreated notifications
/// and asynchronous Lambda Invoke, in front of moto and `cargo lambda watch`.
#[derive(Debug, Clone, Parser)]
#[command(name = "event-plane", version)]
pub struct Cli {
    /// Address of the S3 proxy (point AWS_ENDPOINT_URL_S3 here).
    #[arg(long, env = "EVENT_PLANE_S3_LISTEN")]
    pub s3_listen: SocketAddr,

    /// The S3 emulator, e.g. http://127.0.0.1:5000.
    #[arg(long, env = "EVENT_PLANE_S3_UPSTREAM")]
    pub s3_upstream: Uri,

    /// Address of the Lambda Invoke API (point AWS_ENDPOINT_URL_LAMBDA here).
    #[arg(long, env = "EVENT_PLANE_LAMBDA_LISTEN")]
    pub lambda_listen: SocketAddr,

    /// The Lambda emulator (`cargo lambda watch`), e.g. http://127.0.0.1:9000.
    #[arg(long, env = "EVENT_PLANE_LAMBDA_UPSTREAM")]
    pub lambda_upstream: Uri,

    /// Bucket notification routes (JSON).
    #[arg(long, env = "EVENT_PLANE_ROUTES", default_value = "local/routes.json")]
    pub routes: PathBuf,

    /// Where dead-letter.jsonl is written; created if missing.
    #[arg(long, env = "EVENT_PLANE_STATE_DIR")]
    pub state_dir: PathBuf,

    /// Retries after a failed asynchronous delivery (Lambda: 2).
    #[arg(long, env = "EVENT_PLANE_RETRIES", default_value_t = 2)]
    pub retries: u32,

    /// Delay before each retry, in ms; the last value repeats.
    #[arg(long, env = "EVENT_PLANE_RETRY_DELAYS_MS", value_delimiter = ',', default_value = "1000,2000")]
    pub retry_delays_ms: Vec<u64>,

    /// Deliveries in flight at once, across all functions.
    #[arg(long, env = "EVENT_PLANE_MAX_CONCURRENCY", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrency: u32,

    /// Region written into S3 events.
    #[arg(long, env = "EVENT_PLANE_REGION", default_value = "us-east-1")]
    pub region: String,
}

impl Cli {
    pub fn into_config(self) -> Result<PlaneConfig, RoutesError> {
        Ok(PlaneConfig {
            routes: Routes::load(&self.routes)?,
            s3_listen: self.s3_listen,
            s3_upstream: self.s3_upstream,
            lambda_listen: self.lambda_listen,
            lambda_upstream: self.lambda_upstream,
            state_dir: self.state_dir,
            retries: self.retries,
            retry_delays: self.retry_delays_ms.into_iter().map(Duration::from_millis).collect(),
            max_concurrency: usize::try_from(self.max_concurrency).unwrap_or(usize::MAX),
            region: self.region,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_with_defaults() {
        let cli = Cli::try_parse_from([
            "event-plane",
            "--s3-listen",
            "127.0.0.1:4566",
            "--s3-upstream",
            "http://127.0.0.1:5000",
            "--lambda-listen",
            "127.0.0.1:4567",
            "--lambda-upstream",
            "http://127.0.0.1:9000",
            "--state-dir",
            "/tmp/x",
        ])
        .unwrap();
        assert_eq!(cli.retries, 2);
        assert_eq!(cli.retry_delays_ms, vec![1000, 2000]);
        assert_eq!(cli.max_concurrency, 8);
        assert_eq!(cli.region, "us-east-1");
        assert_eq!(cli.routes, PathBuf::from("local/routes.json"));
    }

    #[test]
    fn delays_are_comma_separated() {
        let cli = Cli::try_parse_from([
            "event-plane",
            "--s3-listen=127.0.0.1:1",
            "--s3-upstream=http://127.0.0.1:2",
            "--lambda-listen=127.0.0.1:3",
            "--lambda-upstream=http://127.0.0.1:4",
            "--state-dir=/tmp/x",
            "--retry-delays-ms=10,20,30",
            "--max-concurrency=2",
        ])
        .unwrap();
        assert_eq!(cli.retry_delays_ms, vec![10, 20, 30]);
        assert_eq!(cli.max_concurrency, 2);
        assert!(
            Cli::try_parse_from([
                "event-plane",
                "--s3-listen=127.0.0.1:1",
                "--s3-upstream=http://127.0.0.1:2",
                "--lambda-listen=127.0.0.1:3",
                "--lambda-upstream=http://127.0.0.1:4",
                "--state-dir=/tmp/x",
                "--max-concurrency=0",
            ])
            .is_err()
        );
    }
}
