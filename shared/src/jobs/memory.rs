//! Job records in memory, with the same conditional semantics as DynamoDB.

use std::collections::HashMap;
use std::sync::Mutex;

use super::control::{Control, ControlRead, ControlWrite};
use super::ports::{JobError, JobRead, JobWrite, JobsByObject, LiveJobs};
use super::record::{JobRecord, object_id};

#[derive(Default)]
pub struct MemoryJobs {
    pub records: Mutex<HashMap<String, JobRecord>>,
    pub controls: Mutex<HashMap<String, Control>>,
}

impl MemoryJobs {
    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<String, JobRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl JobRead for MemoryJobs {
    async fn get(&self, job_id: &str) -> Result<Option<JobRecord>, JobError> {
        Ok(self.records().get(job_id).cloned())
    }
}

impl JobWrite for MemoryJobs {
    async fn create(&self, record: &JobRecord) -> Result<bool, JobError> {
        let mut records = self.records();
        if records.contains_key(&record.job_id) {
            return Ok(false);
        }
        records.insert(record.job_id.clone(), record.clone());
        Ok(true)
    }

    async fn replace(&self, record: &JobRecord, expected: u64) -> Result<bool, JobError> {
        let mut records = self.records();
        match records.get(&record.job_id) {
            Some(current) if current.version == expected => {
                records.insert(record.job_id.clone(), record.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

impl ControlRead for MemoryJobs {
    async fn control(&self, job_id: &str) -> Result<Option<Control>, JobError> {
        Ok(self.controls.lock().unwrap_or_else(|p| p.into_inner()).get(job_id).cloned())
    }
}

impl ControlWrite for MemoryJobs {
    async fn put_control(&self, control: &Control, expected: u64) -> Result<bool, JobError> {
        let mut controls = self.controls.lock().unwrap_or_else(|p| p.into_inner());
        let stored = controls.get(&control.job_id).map_or(0, |c| c.version);
        if stored != expected {
            return Ok(false);
        }
        controls.insert(control.job_id.clone(), control.clone());
        Ok(true)
    }
}

impl LiveJobs for MemoryJobs {
    async fn live_jobs(&self) -> Result<Vec<JobRecord>, JobError> {
        let mut jobs: Vec<JobRecord> =
            self.records().values().filter(|r| !r.is_child() && !r.status.is_terminal()).cloned().collect();
        jobs.sort_by_key(|j| std::cmp::Reverse(j.started_at_ms));
        Ok(jobs)
    }
}

impl JobsByObject for MemoryJobs {
    async fn find_by_object(&self, bucket: &str, key: &str, etag: &str) -> Result<Vec<JobRecord>, JobError> {
        let wanted = object_id(bucket, key, etag);
        // Shards have no `object` in the table, so the index never finds them.
        Ok(self
            .records()
            .values()
            .filter(|r| !r.is_child() && object_id(&r.bucket, &r.key, &r.etag) == wanted)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::sample;

    #[tokio::test]
    async fn writes_are_conditional_on_version() {
        let jobs = MemoryJobs::default();
        let mut r = sample();
        assert!(jobs.create(&r).await.unwrap());
        assert!(!jobs.create(&r).await.unwrap());
        r.version = 8;
        assert!(jobs.replace(&r, 7).await.unwrap());
        assert!(!jobs.replace(&r, 7).await.unwrap(), "a stale writer must lose");
    }
}
