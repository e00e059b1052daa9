//! AWS SDK clients configured from an [`EnvMap`] (usually stack.env under
//! the process environment) rather than from the process environment alone,
//! so that commands and tests reach exactly the endpoints the map names.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, Region};

use crate::env_file::EnvMap;

/// Shared SDK configuration: region and static credentials from the map when
/// present, everything else from the SDK's default chain.
pub async fn sdk_config(env: &EnvMap) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = env.get("AWS_REGION").or_else(|| env.get("AWS_DEFAULT_REGION")) {
        loader = loader.region(Region::new(region.to_string()));
    }
    if let (Some(id), Some(secret)) = (env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")) {
        loader = loader.credentials_provider(Credentials::new(
            id,
            secret,
            env.get("AWS_SESSION_TOKEN").map(str::to_string),
            None,
            "pushbatch-env",
        ));
    }
    loader.load().await
}

/// S3 client: `AWS_ENDPOINT_URL_S3` (or `AWS_ENDPOINT_URL`) and
/// `S3_FORCE_PATH_STYLE=true` from the map.
pub fn s3(sdk: &SdkConfig, env: &EnvMap) -> aws_sdk_s3::Client {
    let mut builder = aws_sdk_s3::config::Builder::from(sdk);
    if let Some(url) = endpoint(env, "AWS_ENDPOINT_URL_S3") {
        builder = builder.endpoint_url(url);
    }
    if env.get("S3_FORCE_PATH_STYLE").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        builder = builder.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

/// DynamoDB client: `AWS_ENDPOINT_URL_DYNAMODB` (or `AWS_ENDPOINT_URL`).
pub fn dynamodb(sdk: &SdkConfig, env: &EnvMap) -> aws_sdk_dynamodb::Client {
    let mut builder = aws_sdk_dynamodb::config::Builder::from(sdk);
    if let Some(url) = endpoint(env, "AWS_ENDPOINT_URL_DYNAMODB") {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

/// Lambda client: `AWS_ENDPOINT_URL_LAMBDA` (or `AWS_ENDPOINT_URL`); on the
/// local stack that is the event plane.
pub fn lambda(sdk: &SdkConfig, env: &EnvMap) -> aws_sdk_lambda::Client {
    let mut builder = aws_sdk_lambda::config::Builder::from(sdk);
    if let Some(url) = endpoint(env, "AWS_ENDPOINT_URL_LAMBDA") {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_lambda::Client::from_conf(builder.build())
}

fn endpoint<'a>(env: &'a EnvMap, service_var: &str) -> Option<&'a str> {
    env.get(service_var).or_else(|| env.get("AWS_ENDPOINT_URL")).filter(|url| !url.is_empty())
}
