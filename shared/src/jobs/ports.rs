//! What the functions ask of the jobs table.

use std::future::Future;

use super::record::JobRecord;
use crate::dynamo::DynamoError;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Dynamo(#[from] DynamoError),
    #[error("job record {job_id} is corrupt: {message}")]
    Corrupt { job_id: String, message: String },
    #[error("job record {job_id} cannot be encoded")]
    Encode {
        job_id: String,
        #[source]
        source: serde_json::Error,
    },
}

pub trait JobRead: Send + Sync {
    fn get(&self, job_id: &str) -> impl Future<Output = Result<Option<JobRecord>, JobError>> + Send;
}

pub trait JobWrite: Send + Sync {
    /// Creates the record; false if one exists already.
    fn create(&self, record: &JobRecord) -> impl Future<Output = Result<bool, JobError>> + Send;
    /// Replaces the record if its version is still `expected`; false if not.
    fn replace(&self, record: &JobRecord, expected: u64) -> impl Future<Output = Result<bool, JobError>> + Send;
}

/// The jobs that are not finished (running, paused or scheduled), newest
/// first: `pushbatch jobs`. Shards are parts of their job, not jobs.
pub trait LiveJobs: Send + Sync {
    fn live_jobs(&self) -> impl Future<Output = Result<Vec<JobRecord>, JobError>> + Send;
}

/// Finding the jobs of a file (the `by_object` index): how `pushbatch send`
/// and the approval status page follow the job of a file they wrote.
pub trait JobsByObject: Send + Sync {
    /// The jobs reading this version of the file (usually one; more when S3
    /// delivered the upload's event with different sequencers).
    fn find_by_object(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
    ) -> impl Future<Output = Result<Vec<JobRecord>, JobError>> + Send;
}
