//! The jobs table in DynamoDB: individual attributes for what people query
//! and watch (status, offset, seq), JSON for the nested parts.

use std::collections::HashMap;

use super::ports::{JobError, JobRead, JobWrite, JobsByObject, LiveJobs};
use super::record::{JobRecord, JobStatus, object_id};
use crate::cost::Usage;
use crate::dynamo::{DynamoError, Item, condition_failed, n, number, required_number, s, text};

pub struct DynamoJobs {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoJobs {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub(super) fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    pub(super) fn table(&self) -> &str {
        &self.table
    }
}

fn json(record: &JobRecord, value: &impl serde::Serialize) -> Result<String, JobError> {
    serde_json::to_string(value).map_err(|source| JobError::Encode { job_id: record.job_id.clone(), source })
}

pub fn to_item(r: &JobRecord) -> Result<Item, JobError> {
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
        ("counters".to_owned(), s(json(r, &r.counters)?)),
        ("invocations".to_owned(), n(r.invocations)),
        ("busy_ms".to_owned(), n(r.busy_ms)),
        ("started_at_ms".to_owned(), n(r.started_at_ms)),
        ("updated_at_ms".to_owned(), n(r.updated_at_ms)),
    ]);
    // Shards stay out of the by_object index: finding a file's job finds
    // the job, not its parts. Likewise the live_jobs index: it holds jobs
    // while they are not finished, and loses them when they are.
    if !r.is_child() {
        item.insert("object".into(), s(object_id(&r.bucket, &r.key, &r.etag)));
        if !r.status.is_terminal() {
            item.insert(crate::schema::JOBS_LIVE.partition_key.into(), s(r.status.as_str()));
        }
    }
    if let Some(total) = r.total_entries {
        item.insert("total_entries".into(), n(total));
    }
    if let Some(at) = r.send_at_ms {
        item.insert("send_at_ms".into(), n(at));
    }
    if let Some(stop) = &r.stop {
        item.insert("stop".into(), s(json(r, stop)?));
    }
    if let Some(parts) = &r.parts {
        item.insert("parts".into(), s(json(r, parts)?));
    }
    if let Some(part) = &r.part {
        item.insert("part".into(), s(json(r, part)?));
    }
    if r.usage != Usage::default() {
        item.insert("usage".into(), s(json(r, &r.usage)?));
    }
    if let Some(shards) = &r.shards {
        item.insert("shards".into(), s(json(r, shards)?));
    }
    if let Some(shard) = &r.shard {
        item.insert("shard".into(), s(json(r, shard)?));
    }
    if let Some(o) = &r.owner {
        item.insert("owner".into(), s(o));
    }
    if let Some(l) = &r.layout {
        item.insert("layout".into(), s(json(r, l)?));
    }
    if let Some(reason) = &r.reason {
        item.insert("reason".into(), s(reason));
    }
    Ok(item)
}

pub fn from_item(item: &Item) -> Result<JobRecord, JobError> {
    let job_id = text(item, "job_id").cloned().unwrap_or_else(|| "(no job_id)".into());
    let corrupt = |message: String| JobError::Corrupt { job_id: job_id.clone(), message };
    let string = |k: &str| text(item, k).cloned();
    let required = |k: &str| string(k).ok_or_else(|| corrupt(format!("missing {k}")));
    let int = |k: &str| required_number::<i64>(item, k).map_err(corrupt);
    let uint = |k: &str| required_number::<u64>(item, k).map_err(corrupt);
    let parsed = |k: &str| -> Result<Option<serde_json::Value>, JobError> {
        string(k).map(|t| serde_json::from_str(&t).map_err(|e| corrupt(format!("{k}: {e}")))).transpose()
    };
    fn typed<T: serde::de::DeserializeOwned>(v: Option<serde_json::Value>) -> Result<Option<T>, serde_json::Error> {
        v.map(serde_json::from_value).transpose()
    }
    let status = string("status").and_then(|s| JobStatus::parse(&s)).ok_or_else(|| corrupt("bad status".into()))?;
    let counters = match parsed("counters")? {
        Some(c) => serde_json::from_value(c).map_err(|e| corrupt(format!("counters: {e}")))?,
        None => Default::default(),
    };
    Ok(JobRecord {
        job_id: job_id.clone(),
        status,
        bucket: required("bucket")?,
        key: required("key")?,
        etag: required("etag")?,
        seq: uint("seq")?,
        owner: string("owner"),
        lease_until_ms: int("lease_until_ms")?,
        version: uint("version")?,
        offset: uint("offset")?,
        line: uint("line")?,
        layout: typed(parsed("layout")?).map_err(|e| corrupt(format!("layout: {e}")))?,
        counters,
        invocations: uint("invocations")?,
        busy_ms: uint("busy_ms")?,
        started_at_ms: int("started_at_ms")?,
        updated_at_ms: int("updated_at_ms")?,
        reason: string("reason"),
        shards: typed(parsed("shards")?).map_err(|e| corrupt(format!("shards: {e}")))?,
        shard: typed(parsed("shard")?).map_err(|e| corrupt(format!("shard: {e}")))?,
        total_entries: number(item, "total_entries").map_err(corrupt)?,
        send_at_ms: number(item, "send_at_ms").map_err(corrupt)?,
        stop: typed(parsed("stop")?).map_err(|e| corrupt(format!("stop: {e}")))?,
        parts: typed(parsed("parts")?).map_err(|e| corrupt(format!("parts: {e}")))?,
        part: typed(parsed("part")?).map_err(|e| corrupt(format!("part: {e}")))?,
        usage: typed(parsed("usage")?).map_err(|e| corrupt(format!("usage: {e}")))?.unwrap_or_default(),
    })
}

impl DynamoJobs {
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
            .map_err(|e| DynamoError::new("Query", &self.table, e))?;
        out.items().iter().map(from_item).collect()
    }

    /// Writes the whole record if `condition` holds; false when it does not.
    async fn put_if(&self, record: &JobRecord, condition: &str, expected: Option<u64>) -> Result<bool, JobError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)?))
            .condition_expression(condition)
            .set_expression_attribute_values(expected.map(|v| HashMap::from([(":expected".to_owned(), n(v))])))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => {
                // The SDK retries a write whose answer was lost (a timeout, a
                // 500 after the write); the retry then fails its condition on
                // the write it made itself. Read back: our own write is a
                // success, or the caller would give up a link it holds and
                // strand the job.
                Ok(self.get(&record.job_id).await?.is_some_and(|stored| is_same_write(&stored, record)))
            }
            Err(e) => Err(DynamoError::new("PutItem", &self.table, e).into()),
        }
    }
}

impl LiveJobs for DynamoJobs {
    async fn live_jobs(&self) -> Result<Vec<JobRecord>, JobError> {
        let index = crate::schema::JOBS_LIVE;
        let mut jobs = Vec::new();
        for state in [JobStatus::Running, JobStatus::Scheduled] {
            let mut pages = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index.name)
                .key_condition_expression("#l = :l")
                .expression_attribute_names("#l", index.partition_key)
                .expression_attribute_values(":l", s(state.as_str()))
                .into_paginator()
                .items()
                .send();
            while let Some(item) = pages.next().await {
                let item = item.map_err(|e| DynamoError::new("Query", &self.table, e))?;
                jobs.push(from_item(&item)?);
            }
        }
        jobs.sort_by_key(|j| std::cmp::Reverse(j.started_at_ms));
        Ok(jobs)
    }
}

impl JobsByObject for DynamoJobs {
    async fn find_by_object(&self, bucket: &str, key: &str, etag: &str) -> Result<Vec<JobRecord>, JobError> {
        self.find_by_object_id(&object_id(bucket, key, etag)).await
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
            .map_err(|e| DynamoError::new("GetItem", &self.table, e))?;
        out.item.as_ref().map(from_item).transpose()
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
        // Two shards (or parts) rolling up into their job write the same
        // fields but a different set of finished ones.
        && stored.shards == written.shards
        && stored.parts == written.parts
}

impl JobWrite for DynamoJobs {
    async fn create(&self, record: &JobRecord) -> Result<bool, JobError> {
        self.put_if(record, "attribute_not_exists(job_id)", None).await
    }

    async fn replace(&self, record: &JobRecord, expected: u64) -> Result<bool, JobError> {
        self.put_if(record, "version = :expected", Some(expected)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{ShardOf, ShardSet, sample};

    #[test]
    fn recognises_its_own_write() {
        let mine = sample();
        assert!(is_same_write(&from_item(&to_item(&mine).unwrap()).unwrap(), &mine));
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
        assert_eq!(from_item(&to_item(&r).unwrap()).unwrap(), r);
        let mut parent = sample();
        parent.shards = Some(ShardSet::new(vec![10, 20, 30]));
        assert_eq!(from_item(&to_item(&parent).unwrap()).unwrap(), parent);
        assert!(to_item(&parent).unwrap().contains_key("object"));
        let mut shard = sample();
        shard.shard = Some(ShardOf { parent: "j".into(), index: 1, end: 30 });
        assert_eq!(from_item(&to_item(&shard).unwrap()).unwrap(), shard);
        assert!(!to_item(&shard).unwrap().contains_key("object"), "shards stay out of the by_object index");
    }
}
