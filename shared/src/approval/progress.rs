//! Finding the send-batch job of an approved request's batch file.

use std::future::Future;

use crate::jobs::{DynamoJobs, JobError, JobRecord, MemoryJobs, object_id};

pub trait JobsByObject: Send + Sync {
    /// The jobs reading this version of the file (usually one).
    fn find(
        &self,
        bucket: &str,
        key: &str,
        etag: &str,
    ) -> impl Future<Output = Result<Vec<JobRecord>, JobError>> + Send;
}

impl JobsByObject for DynamoJobs {
    async fn find(&self, bucket: &str, key: &str, etag: &str) -> Result<Vec<JobRecord>, JobError> {
        self.find_by_object(bucket, key, etag).await
    }
}

impl JobsByObject for MemoryJobs {
    async fn find(&self, bucket: &str, key: &str, etag: &str) -> Result<Vec<JobRecord>, JobError> {
        let wanted = object_id(bucket, key, etag);
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        Ok(records.values().filter(|r| object_id(&r.bucket, &r.key, &r.etag) == wanted).cloned().collect())
    }
}
