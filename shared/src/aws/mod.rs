//! AWS clients built from the SDK's standard environment.
//!
//! Endpoints come from `AWS_ENDPOINT_URL_*`, so no code path knows whether it
//! runs on AWS or on the local stack. The one local concession is path-style
//! S3 addressing, which the emulator needs and the SDK has no variable for.
//!
//! Every client a function uses is built here, so the one place that puts
//! interceptors on them covers every call: the metrics' timer, and the call
//! log (`calls`) that the least-privilege check reads.

pub mod access;
pub mod calls;
pub mod record;

use aws_config::BehaviorVersion;
pub use aws_config::SdkConfig;

use self::access::Service;
use self::calls::recorder;
use crate::config::SecretSource;
use crate::cost::meter::UsageMeter;
use crate::metrics::AwsCallTimer;

/// Loads the shared SDK configuration (region, credentials, endpoints).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// True when `S3_FORCE_PATH_STYLE` asks for `http://host/bucket/key` URLs.
pub fn force_path_style() -> bool {
    matches!(std::env::var("S3_FORCE_PATH_STYLE").ok().as_deref(), Some("1" | "true" | "TRUE" | "yes"))
}

/// S3 and DynamoDB clients time every call (`crate::metrics::AwsCallTimer`)
/// and meter what it costs (`crate::cost::meter`).
pub fn s3(config: &SdkConfig) -> aws_sdk_s3::Client {
    let mut conf = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(force_path_style())
        .interceptor(AwsCallTimer)
        .interceptor(UsageMeter);
    if let Some(recorder) = recorder(Service::S3) {
        conf = conf.interceptor(recorder);
    }
    aws_sdk_s3::Client::from_conf(conf.build())
}

pub fn dynamodb(config: &SdkConfig) -> aws_sdk_dynamodb::Client {
    let mut conf = aws_sdk_dynamodb::config::Builder::from(config).interceptor(AwsCallTimer).interceptor(UsageMeter);
    if let Some(recorder) = recorder(Service::DynamoDb) {
        conf = conf.interceptor(recorder);
    }
    aws_sdk_dynamodb::Client::from_conf(conf.build())
}

pub fn lambda(config: &SdkConfig) -> aws_sdk_lambda::Client {
    let mut conf = aws_sdk_lambda::config::Builder::from(config);
    if let Some(recorder) = recorder(Service::Lambda) {
        conf = conf.interceptor(recorder);
    }
    aws_sdk_lambda::Client::from_conf(conf.build())
}

pub fn scheduler(config: &SdkConfig) -> aws_sdk_scheduler::Client {
    let mut conf = aws_sdk_scheduler::config::Builder::from(config);
    if let Some(recorder) = recorder(Service::Scheduler) {
        conf = conf.interceptor(recorder);
    }
    aws_sdk_scheduler::Client::from_conf(conf.build())
}

pub fn ses(config: &SdkConfig) -> aws_sdk_sesv2::Client {
    let mut conf = aws_sdk_sesv2::config::Builder::from(config);
    if let Some(recorder) = recorder(Service::Ses) {
        conf = conf.interceptor(recorder);
    }
    aws_sdk_sesv2::Client::from_conf(conf.build())
}

fn secrets_manager(config: &SdkConfig) -> aws_sdk_secretsmanager::Client {
    let mut conf = aws_sdk_secretsmanager::config::Builder::from(config);
    if let Some(recorder) = recorder(Service::SecretsManager) {
        conf = conf.interceptor(recorder);
    }
    aws_sdk_secretsmanager::Client::from_conf(conf.build())
}

/// Errors while fetching secret material.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read secret file {path}: {source}")]
    File { path: String, source: std::io::Error },
    #[error("cannot fetch secret {id} from Secrets Manager")]
    SecretsManager {
        id: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("secret {id} has no string value")]
    Empty { id: String },
}

/// Fetches a secret's bytes. Never logs the value.
pub async fn load_secret(config: &SdkConfig, source: &SecretSource) -> Result<Vec<u8>, SecretError> {
    match source {
        SecretSource::File(path) => {
            tokio::fs::read(path).await.map_err(|source| SecretError::File { path: path.display().to_string(), source })
        }
        SecretSource::SecretsManager(id) => {
            let client = secrets_manager(config);
            let out = client
                .get_secret_value()
                .secret_id(id)
                .send()
                .await
                .map_err(|e| SecretError::SecretsManager { id: id.clone(), source: Box::new(e) })?;
            out.secret_string().map(|s| s.as_bytes().to_vec()).ok_or_else(|| SecretError::Empty { id: id.clone() })
        }
    }
}
