//! The job record in DynamoDB: status, offset, counters and the chain's `seq`.
//!
//! Every write is conditional on the record's `version`, so two invocations
//! can never both believe they own the same segment of a file.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use crate::batch::Layout;
use crate::report::Counters;
use crate::shards::{ShardOf, ShardSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Running,
    Done,
    /// The file changed mid-job (412 on If-Match).
    Aborted,
    /// The file or its notification is unusable (malformed JSON, too big).
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Aborted => "aborted",
            JobStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => JobStatus::Running,
            "done" => JobStatus::Done,
            "aborted" => JobStatus::Aborted,
            "failed" => JobStatus::Failed,
            _ => return None,
        })
    }

    pub fn is_terminal(self) -> bool {
        self != JobStatus::Running
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job_id: String,
    pub status: JobStatus,
    pub bucket: String,
    pub key: String,
    pub etag: String,
    /// The chain link that owns the job now.
    pub seq: u64,
    /// Invocation holding the current link; None between links.
    pub owner: Option<String>,
    /// Epoch ms until which the owner's claim stands without a checkpoint.
    pub lease_until_ms: i64,
    /// Bumped by every write; writes are conditional on it.
    pub version: u64,
    /// Byte offset of the next entry to send.
    pub offset: u64,
    /// JSONL line number at `offset`.
    pub line: u64,
    pub layout: Option<Layout>,
    pub counters: Counters,
    pub invocations: u64,
    pub busy_ms: u64,
    pub started_at_ms: i64,
    pub updated_at_ms: i64,
    pub reason: Option<String>,
    /// On a sharded job's record: how the file was cut and which shards
    /// have finished (see `crate::shards`).
    #[serde(default)]
    pub shards: Option<ShardSet>,
    /// On a shard's record: its job and its byte range.
    #[serde(default)]
    pub shard: Option<ShardOf>,
}

impl JobRecord {
    /// A running job on `bucket/key` at `etag`, nothing sent, nobody
    /// holding it.
    pub fn new(job_id: &str, bucket: &str, key: &str, etag: &str, now_ms: i64) -> Self {
        JobRecord {
            job_id: job_id.into(),
            status: JobStatus::Running,
            bucket: bucket.into(),
            key: key.into(),
            etag: crate::objects::unquote(etag),
            seq: 0,
            owner: None,
            lease_until_ms: 0,
            version: 1,
            offset: 0,
            line: 0,
            layout: None,
            counters: Counters::default(),
            invocations: 0,
            busy_ms: 0,
            started_at_ms: now_ms,
            updated_at_ms: now_ms,
            reason: None,
            shards: None,
            shard: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("DynamoDB {operation} on the jobs table: {message}")]
    Dynamo { operation: &'static str, message: String },
    #[error("job record {job_id} is corrupt: {message}")]
    Corrupt { job_id: String, message: String },
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

/// The `by_object` index key: which file (and version of it) a job reads.
pub fn object_id(bucket: &str, key: &str, etag: &str) -> String {
    format!("{bucket}/{key}#{}", crate::objects::unquote(etag))
}

pub struct DynamoJobs {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoJobs {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    fn err(operation: &'static str, e: impl std::fmt::Display) -> JobError {
        JobError::Dynamo { operation, message: e.to_string() }
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Individual attributes for what people query and watch (status, offset,
/// seq); JSON for the nested parts.
pub fn to_item(r: &JobRecord) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("job_id".to_owned(), s(&r.job_id)),
        ("status".to_owned(), s(r.status.as_str())),
        ("bucket".to_owned(), s(&r.bucket)),
        ("key".to_owned(), s(&r.key)),
        ("etag".to_owned(), s(&r.etag)),
        ("seq".to_owned(), n(r.seq)),
        ("lease_until_ms".to_owned(), n(r.lease_until_ms)),
        ("version".to_owned(), n(r.version)),
        ("offset".to_owned(), n(r.offset)),
        ("line".to_owned(), n(r.line)),
        ("counters".to_owned(), s(serde_json::to_string(&r.counters).unwrap_or_default())),
        ("invocations".to_owned(), n(r.invocations)),
        ("busy_ms".to_owned(), n(r.busy_ms)),
        ("started_at_ms".to_owned(), n(r.started_at_ms)),
        ("updated_at_ms".to_owned(), n(r.updated_at_ms)),
    ]);
    // Shards stay out of the by_object index: finding a file's job finds
    // the job, not its parts.
    if r.shard.is_none() {
        item.insert("object".into(), s(object_id(&r.bucket, &r.key, &r.etag)));
    }
    for (name, value) in [
        ("shards", r.shards.as_ref().map(serde_json::to_string)),
        ("shard", r.shard.as_ref().map(serde_json::to_string)),
    ] {
        if let Some(Ok(json)) = value {
            item.insert(name.into(), s(json));
        }
    }
    if let Some(o) = &r.owner {
        item.insert("owner".into(), s(o));
    }
    if let Some(l) = &r.layout {
        item.insert("layout".into(), s(serde_json::to_string(l).unwrap_or_default()));
    }
    if let Some(reason) = &r.reason {
        item.insert("reason".into(), s(reason));
    }
    item
}

pub fn from_item(item: &HashMap<String, AttributeValue>) -> Result<JobRecord, JobError> {
    let job_id = item.get("job_id").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    let corrupt = |message: String| JobError::Corrupt { job_id: job_id.clone(), message };
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let num = |k: &str| -> Result<i64, JobError> {
        item.get(k)
            .and_then(|v| v.as_n().ok())
            .ok_or_else(|| corrupt(format!("missing {k}")))?
            .parse::<i64>()
            .map_err(|e| corrupt(format!("{k}: {e}")))
    };
    let status = text("status").and_then(|s| JobStatus::parse(&s)).ok_or_else(|| corrupt("bad status".into()))?;
    let layout = match text("layout") {
        Some(l) => Some(serde_json::from_str(&l).map_err(|e| corrupt(format!("layout: {e}")))?),
        None => None,
    };
    let json_field = |k: &str| -> Result<Option<serde_json::Value>, JobError> {
        text(k).map(|t| serde_json::from_str(&t).map_err(|e| corrupt(format!("{k}: {e}")))).transpose()
    };
    let shards =
        json_field("shards")?.map(serde_json::from_value).transpose().map_err(|e| corrupt(format!("shards: {e}")))?;
    let shard =
        json_field("shard")?.map(serde_json::from_value).transpose().map_err(|e| corrupt(format!("shard: {e}")))?;
    let counters = serde_json::from_str(&text("counters").unwrap_or_else(|| "{}".into()))
        .map_err(|e| corrupt(format!("counters: {e}")))?;
    Ok(JobRecord {
        job_id: job_id.clone(),
        status,
        bucket: text("bucket").unwrap_or_default(),
        key: text("key").unwrap_or_default(),
        etag: text("etag").unwrap_or_default(),
        seq: num("seq")? as u64,
        owner: text("owner"),
        lease_until_ms: num("lease_until_ms")?,
        version: num("version")? as u64,
        offset: num("offset")? as u64,
        line: num("line")? as u64,
        layout,
        counters,
        invocations: num("invocations")? as u64,
        busy_ms: num("busy_ms")? as u64,
        started_at_ms: num("started_at_ms")?,
        updated_at_ms: num("updated_at_ms")?,
        reason: text("reason"),
        shards,
        shard,
    })
}

impl DynamoJobs {
    /// The jobs started for one version of a file (usually one; more when S3
    /// delivered the upload's event with different sequencers).
    pub async fn find_by_object(&self, bucket: &str, key: &str, etag: &str) -> Result<Vec<JobRecord>, JobError> {
        self.find_by_object_id(&object_id(bucket, key, etag)).await
    }

    /// Jobs of an [`object_id`].
    pub async fn find_by_object_id(&self, object: &str) -> Result<Vec<JobRecord>, JobError> {
        let index = crate::schema::JOBS_BY_OBJECT;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index.name)
            .key_condition_expression("#o = :o")
            .expression_attribute_names("#o", index.partition_key)
            .expression_attribute_values(":o", s(object))
            .send()
            .await
            .map_err(|e| Self::err("Query", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        out.items().iter().map(from_item).collect()
    }
}

impl JobRead for DynamoJobs {
    async fn get(&self, job_id: &str) -> Result<Option<JobRecord>, JobError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("job_id", s(job_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| Self::err("GetItem", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        out.item.as_ref().map(from_item).transpose()
    }
}

impl DynamoJobs {
    /// Writes the whole record if `condition` holds; false when it does not.
    async fn put_if(&self, record: &JobRecord, condition: &str, expected: Option<u64>) -> Result<bool, JobError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)))
            .condition_expression(condition)
            .set_expression_attribute_values(expected.map(|v| HashMap::from([(":expected".to_owned(), n(v))])))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                // The SDK retries a write whose answer was lost (a timeout, a
                // 500 after the write); the retry then fails its condition on
                // the write it made itself. Read back: our own write is a
                // success, or the caller would give up a link it holds and
                // strand the job.
                Ok(self.get(&record.job_id).await?.is_some_and(|stored| is_same_write(&stored, record)))
            }
            Err(e) => Err(Self::err("PutItem", aws_sdk_dynamodb::error::DisplayErrorContext(e))),
        }
    }
}

/// Whether `stored` is the record `written` (and not another invocation's
/// write at the same version): each write carries its writer's owner id and
/// timestamp.
fn is_same_write(stored: &JobRecord, written: &JobRecord) -> bool {
    stored.version == written.version
        && stored.owner == written.owner
        && stored.seq == written.seq
        && stored.status == written.status
        && stored.offset == written.offset
        && stored.updated_at_ms == written.updated_at_ms
        // Two shards rolling up into their job write the same fields but a
        // different set of finished shards.
        && stored.shards == written.shards
}

impl JobWrite for DynamoJobs {
    async fn create(&self, record: &JobRecord) -> Result<bool, JobError> {
        self.put_if(record, "attribute_not_exists(job_id)", None).await
    }

    async fn replace(&self, record: &JobRecord, expected: u64) -> Result<bool, JobError> {
        self.put_if(record, "version = :expected", Some(expected)).await
    }
}

/// Job records in memory, with the same conditional semantics.
#[derive(Default)]
pub struct MemoryJobs {
    pub records: Mutex<HashMap<String, JobRecord>>,
}

impl JobRead for MemoryJobs {
    async fn get(&self, job_id: &str) -> Result<Option<JobRecord>, JobError> {
        Ok(self.records.lock().unwrap_or_else(|p| p.into_inner()).get(job_id).cloned())
    }
}

impl JobWrite for MemoryJobs {
    async fn create(&self, record: &JobRecord) -> Result<bool, JobError> {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if records.contains_key(&record.job_id) {
            return Ok(false);
        }
        records.insert(record.job_id.clone(), record.clone());
        Ok(true)
    }

    async fn replace(&self, record: &JobRecord, expected: u64) -> Result<bool, JobError> {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        match records.get(&record.job_id) {
            Some(current) if current.version == expected => {
                records.insert(record.job_id.clone(), record.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> JobRecord {
        JobRecord {
            seq: 2,
            owner: Some("me".into()),
            lease_until_ms: 10,
            version: 7,
            offset: 1234,
            invocations: 3,
            busy_ms: 9,
            started_at_ms: 1,
            updated_at_ms: 2,
            ..JobRecord::new("j", "b", "batches/x.json", "e", 0)
        }
    }

    #[test]
    fn recognises_its_own_write() {
        let mine = sample();
        assert!(is_same_write(&from_item(&to_item(&mine)).unwrap(), &mine));
        let mut theirs = mine.clone();
        theirs.owner = Some("another invocation".into());
        assert!(!is_same_write(&theirs, &mine), "a takeover at the same version");
        let mut later = mine.clone();
        later.version += 1;
        assert!(!is_same_write(&later, &mine));
        let mut handed = mine.clone();
        handed.updated_at_ms += 1;
        assert!(!is_same_write(&handed, &mine));
    }

    #[test]
    fn items_round_trip() {
        let r = sample();
        assert_eq!(from_item(&to_item(&r)).unwrap(), r);
        let mut parent = sample();
        parent.shards = Some(ShardSet::new(vec![10, 20, 30]));
        assert_eq!(from_item(&to_item(&parent)).unwrap(), parent);
        assert!(to_item(&parent).contains_key("object"));
        let mut shard = sample();
        shard.shard = Some(ShardOf { parent: "j".into(), index: 1, end: 30 });
        assert_eq!(from_item(&to_item(&shard)).unwrap(), shard);
        assert!(!to_item(&shard).contains_key("object"), "shards stay out of the by_object index");
    }

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
