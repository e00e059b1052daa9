//! Reads size and ETag of a freshly created object from the S3 upstream.
//!
//! The HEAD goes through the AWS SDK so it is signed: moto treats an unsigned
//! request as anonymous and answers 403 for private objects.

use std::time::Duration;

use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use http::Uri;

/// Used when the environment has no credentials; moto accepts any.
const FALLBACK_KEY: &str = "test";

#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    #[error("HEAD s3://{bucket}/{key} failed: {}", DisplayErrorContext(source))]
    Failed {
        bucket: String,
        key: String,
        #[source]
        source: Box<aws_sdk_s3::error::SdkError<HeadObjectError>>,
    },
    #[error("HEAD s3://{bucket}/{key}: the answer has no {missing}")]
    Incomplete { bucket: String, key: String, missing: &'static str },
}

#[derive(Debug, Clone)]
pub struct ObjectHeader {
    pub size: i64,
    /// Without quotes.
    pub etag: String,
}

#[derive(Debug, Clone)]
pub struct S3Head {
    client: aws_sdk_s3::Client,
}

impl S3Head {
    /// Credentials come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
    /// `AWS_SESSION_TOKEN` (the local stack's), else a fixed test pair.
    pub fn new(upstream: &Uri, region: &str) -> Self {
        let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let credentials = Credentials::new(
            env("AWS_ACCESS_KEY_ID").unwrap_or_else(|| FALLBACK_KEY.to_owned()),
            env("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|| FALLBACK_KEY.to_owned()),
            env("AWS_SESSION_TOKEN"),
            None,
            "event-plane",
        );
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(upstream.to_string().trim_end_matches('/'))
            .force_path_style(true)
            .credentials_provider(credentials)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            )
            .build();
        S3Head { client: aws_sdk_s3::Client::from_conf(config) }
    }

    pub async fn head(&self, bucket: &str, key: &str) -> Result<ObjectHeader, HeadError> {
        let out = self.client.head_object().bucket(bucket).key(key).send().await.map_err(|source| {
            HeadError::Failed { bucket: bucket.to_owned(), key: key.to_owned(), source: Box::new(source) }
        })?;
        let incomplete = |missing| HeadError::Incomplete { bucket: bucket.to_owned(), key: key.to_owned(), missing };
        let size = out.content_length().ok_or_else(|| incomplete("Content-Length"))?;
        let etag = out.e_tag().map(|e| e.trim().trim_matches('"').to_owned()).ok_or_else(|| incomplete("ETag"))?;
        Ok(ObjectHeader { size, etag })
    }
}
