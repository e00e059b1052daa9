//! The Lambda entry point: an S3 event or a continuation in, links run.

use aws_lambda_events::s3::S3Event;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use shared::batch::Encoding;
use shared::chain::ContinuationEvent;
use shared::objects::created_objects;

use crate::claim::{Claimed, claim};
use crate::controls::{self, ControlEvent};
use crate::deps::Ports;
use crate::job;
use crate::link::{Link, LinkError, LinkResult, Trigger};

/// Parses either input with its `aws_lambda_events` / contract type.
pub fn triggers(payload: Value) -> Result<Vec<Trigger>, LinkError> {
    if payload.get("continue").is_some() {
        let c: ContinuationEvent = serde_json::from_value(payload).map_err(LinkError::BadEvent)?;
        return Ok(vec![Trigger::Continue(c.next)]);
    }
    let event: S3Event = serde_json::from_value(payload).map_err(LinkError::BadEvent)?;
    if event.records.is_empty() {
        return Err(LinkError::NoRecords);
    }
    Ok(created_objects(event)
        .into_iter()
        .map(|o| Trigger::Upload { bucket: o.bucket, key: o.key, etag: o.etag, sequencer: o.sequencer })
        .collect())
}

pub async fn handle<P: Ports>(ports: &P, event: LambdaEvent<Value>) -> Result<Value, LinkError> {
    // Every invocation's metrics are written when it ends, errors included.
    let _metrics = shared::metrics::invocation();
    // Lambda bills the invocation's time at the function's memory; a job's
    // cost receipt is charged from here (see `ending::charge`).
    shared::cost::meter::start_invocation(u32::try_from(event.context.env_config.memory).unwrap_or(0));
    if event.payload.get("watchdog").is_some() {
        return crate::watchdog::run(ports, shared::clock::now_ms()).await;
    }
    let link = Link {
        function: event.context.env_config.function_name.clone(),
        function_arn: ports
            .settings()
            .schedule_target_arn
            .clone()
            .unwrap_or_else(|| event.context.invoked_function_arn.clone()),
        deadline_ms: event.context.deadline,
        request_id: event.context.request_id.clone(),
    };
    if event.payload.get("control").is_some() {
        let request: ControlEvent = serde_json::from_value(event.payload).map_err(LinkError::BadEvent)?;
        return controls::apply(ports, &link, request.control).await;
    }
    let mut results: Vec<LinkResult> = Vec::new();
    for trigger in triggers(event.payload)? {
        if let Trigger::Upload { key, .. } = &trigger
            && Encoding::from_key(key).is_none()
        {
            tracing::warn!(key, "ignoring an object that is not .json, .jsonl or .ndjson");
            continue;
        }
        let result = match claim(ports, &link, trigger).await? {
            Claimed::Link(record, budget) => job::run(ports, &link, *record, budget).await?,
            Claimed::Done(result) => result,
        };
        results.push(result);
    }
    Ok(json!({ "links": results }))
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
