//! Command line (and `EVENT_PLANE_*` environment) of the binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use http::Uri;

use crate::clock::{Clock, FileClock, SystemClock};
use crate::gateway::{Apis, ApisError, IamCredential};
use crate::issuer::{Directory, DirectoryError};
use crate::plane::{GatewayConfig, IssuerConfig, PlaneConfig};
use crate::routes::{Routes, RoutesError};

/// The account id API Gateway reports in `requestContext.accountId` (the
/// one AWS's documentation uses, and moto's default).
pub const LOCAL_ACCOUNT_ID: &str = "123456789012";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Routes(#[from] RoutesError),
    #[error(transparent)]
    Apis(#[from] ApisError),
    #[error(transparent)]
    Users(#[from] DirectoryError),
}

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

    /// Region written into S3 events; IAM routes expect signatures for it.
    #[arg(long, env = "EVENT_PLANE_REGION", default_value = "us-east-1")]
    pub region: String,

    /// Address of the HTTP API gateway (none without it).
    #[arg(long, env = "EVENT_PLANE_GATEWAY_LISTEN")]
    pub gateway_listen: Option<SocketAddr>,

    /// The gateway's APIs and routes (JSON).
    #[arg(long, env = "EVENT_PLANE_APIS", default_value = "local/apis.json")]
    pub apis: PathBuf,

    /// The gateway's integration timeout, in seconds (API Gateway: 30).
    #[arg(long, env = "EVENT_PLANE_GATEWAY_TIMEOUT_SECONDS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub gateway_timeout_seconds: u64,

    /// `requestContext.accountId` of gateway events.
    #[arg(long, env = "EVENT_PLANE_ACCOUNT_ID", default_value = LOCAL_ACCOUNT_ID)]
    pub account_id: String,

    /// Access key id IAM routes accept (the local stack's).
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub iam_access_key_id: Option<String>,

    /// Its secret.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub iam_secret_access_key: Option<String>,

    /// Address of the local OIDC issuer (none without it).
    #[arg(long, env = "EVENT_PLANE_ISSUER_LISTEN")]
    pub issuer_listen: Option<SocketAddr>,

    /// The issuer's clients and users (JSON).
    #[arg(long, env = "EVENT_PLANE_USERS", default_value = "local/users.json")]
    pub users: PathBuf,

    /// Scheduler's now: a file holding an RFC 3339 instant, read each time
    /// (the functions' `PUSHBATCH_CLOCK_FILE`). Default: the system clock.
    #[arg(long, env = "EVENT_PLANE_CLOCK_FILE")]
    pub clock_file: Option<PathBuf>,
}

impl Cli {
    pub fn into_config(self) -> Result<PlaneConfig, ConfigError> {
        let account_id = self.account_id.clone();
        let iam = match (self.iam_access_key_id, self.iam_secret_access_key) {
            (Some(access_key_id), Some(secret_access_key)) => Some(IamCredential { access_key_id, secret_access_key }),
            _ => None,
        };
        let gateway = match self.gateway_listen {
            Some(listen) => Some(GatewayConfig {
                listen,
                apis: Apis::load(&self.apis)?,
                iam,
                timeout: Duration::from_secs(self.gateway_timeout_seconds),
                account_id: self.account_id,
            }),
            None => None,
        };
        let issuer = match self.issuer_listen {
            Some(listen) => Some(IssuerConfig { listen, directory: Directory::load(&self.users)? }),
            None => None,
        };
        let schedule_clock: Arc<dyn Clock> = match &self.clock_file {
            Some(path) => Arc::new(FileClock::new(path)),
            None => Arc::new(SystemClock),
        };
        Ok(PlaneConfig {
            schedule_clock,
            account_id,
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
            gateway,
            issuer,
            clock: Arc::new(SystemClock),
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
        assert_eq!(cli.gateway_listen, None);
        assert_eq!(cli.issuer_listen, None);
        assert_eq!(cli.apis, PathBuf::from("local/apis.json"));
        assert_eq!(cli.users, PathBuf::from("local/users.json"));
        assert_eq!(cli.gateway_timeout_seconds, 30);
        assert_eq!(cli.account_id, LOCAL_ACCOUNT_ID);
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
