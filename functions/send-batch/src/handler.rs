//! The Lambda entry point: an S3 event or a continuation in, links run.

use aws_lambda_events::s3::S3Event;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use shared::batch::Encoding;
use shared::chain::{Continuation, ContinuationEvent};
use shared::objects::created_objects;

use crate::deps::Ports;
use crate::job::{self, Link, LinkReport};

/// What started this invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    Upload { bucket: String, key: String, etag: String, sequencer: String },
    Continue(Continuation),
}

#[derive(Debug, thiserror::Error)]
#[error("unrecognised event: expected an S3 ObjectCreated event or {{\"continue\": ...}}: {0}")]
pub struct BadEvent(String);

/// Parses either input with its `aws_lambda_events` / contract type.
pub fn triggers(payload: Value) -> Result<Vec<Trigger>, BadEvent> {
    if payload.get("continue").is_some() {
        let c: ContinuationEvent = serde_json::from_value(payload).map_err(|e| BadEvent(e.to_string()))?;
        return Ok(vec![Trigger::Continue(c.next)]);
    }
    let event: S3Event = serde_json::from_value(payload).map_err(|e| BadEvent(e.to_string()))?;
    if event.records.is_empty() {
        return Err(BadEvent("no records".into()));
    }
    Ok(created_objects(event)
        .into_iter()
        .map(|o| Trigger::Upload { bucket: o.bucket, key: o.key, etag: o.etag, sequencer: o.sequencer })
        .collect())
}

pub async fn handle<P: Ports>(ports: &P, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let function = event.context.env_config.function_name.clone();
    let deadline_ms = event.context.deadline;
    let mut reports: Vec<LinkReport> = Vec::new();
    for trigger in triggers(event.payload)? {
        if let Trigger::Upload { key, .. } = &trigger
            && Encoding::from_key(key).is_none()
        {
            tracing::warn!(key, "ignoring an object that is not .json, .jsonl or .ndjson");
            continue;
        }
        let link = Link { function: function.clone(), deadline_ms, request_id: event.context.request_id.clone() };
        reports.push(job::run(ports, &link, trigger).await?);
    }
    Ok(json!({ "links": reports }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_inputs() {
        let s3 = json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-24T00:00:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "x"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
                "bucket": {"name": "b", "ownerIdentity": {"principalId": "x"}, "arn": "arn:aws:s3:::b"},
                "object": {"key": "batches/day+21%C3%A9.json", "size": 10, "eTag": "abc", "sequencer": "0A"}}
        }]});
        assert_eq!(
            triggers(s3).unwrap(),
            vec![Trigger::Upload {
                bucket: "b".into(),
                key: "batches/day 21é.json".into(),
                etag: "abc".into(),
                sequencer: "0A".into()
            }]
        );
        let c = json!({"continue": {"job_id": "j", "bucket": "b", "key": "k", "etag": "e", "offset": 5, "seq": 2}});
        assert!(matches!(&triggers(c).unwrap()[0], Trigger::Continue(c) if c.offset == 5 && c.seq == 2));
        assert!(triggers(json!({"hello": 1})).is_err());
    }
}
