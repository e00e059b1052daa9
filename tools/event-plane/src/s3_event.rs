//! Builds S3 ObjectCreated events shaped like the ones S3 sends to Lambda.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::s3::{
    S3Bucket, S3Entity, S3Event, S3EventRecord, S3Object, S3RequestParameters, S3UserIdentity,
};
use bytes::Bytes;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;

/// What kind of request created the object; becomes `eventName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatedBy {
    Put,
    Copy,
    CompleteMultipartUpload,
}

impl CreatedBy {
    pub fn event_name(self) -> &'static str {
        match self {
            CreatedBy::Put => "ObjectCreated:Put",
            CreatedBy::Copy => "ObjectCreated:Copy",
            CreatedBy::CompleteMultipartUpload => "ObjectCreated:CompleteMultipartUpload",
        }
    }
}

/// Facts about one created object, gathered from the request, the upstream's
/// response and a HEAD on the object.
#[derive(Debug, Clone)]
pub struct CreatedObject {
    pub bucket: String,
    /// Decoded key, as the client named it.
    pub key: String,
    pub size: i64,
    /// Without surrounding quotes, as S3 events carry it.
    pub etag: String,
    pub created_by: CreatedBy,
    pub source_ip: String,
    pub request_id: String,
    pub host_id: String,
}

/// Identity the plane reports as the writer; there is no IAM locally.
const PRINCIPAL_ID: &str = "AWS:AIDAEVENTPLANELOCAL";
const OWNER_ID: &str = "EVENTPLANELOCAL";

/// Issues S3-style sequencers: fixed-width hex, so string order equals numeric
/// order, seeded from the clock so values keep increasing across restarts
/// (a re-upload after a restart must not look like the same event).
#[derive(Debug, Default)]
pub struct Sequencer {
    last: AtomicU64,
}

impl Sequencer {
    pub fn next(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let mut prev = self.last.load(Ordering::Relaxed);
        loop {
            let next = now.max(prev.saturating_add(1));
            match self.last.compare_exchange_weak(prev, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return format!("{next:018X}"),
                Err(actual) => prev = actual,
            }
        }
    }
}

/// Encodes a key the way S3 writes it into event notifications: form-style
/// (space becomes `+`), `/` kept, every other reserved or non-ASCII byte
/// percent-encoded as UTF-8.
pub fn encode_event_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => {
                // Writing to a String cannot fail.
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

pub fn build_event(
    object: &CreatedObject,
    configuration_id: &str,
    sequencer: &str,
    region: &str,
    now: DateTime<Utc>,
) -> S3Event {
    // The event types are #[non_exhaustive]: start from Default and fill in.
    let mut principal = S3UserIdentity::default();
    principal.principal_id = Some(PRINCIPAL_ID.to_owned());

    let mut owner = S3UserIdentity::default();
    owner.principal_id = Some(OWNER_ID.to_owned());

    let mut bucket = S3Bucket::default();
    bucket.name = Some(object.bucket.clone());
    bucket.owner_identity = Some(owner);
    bucket.arn = Some(format!("arn:aws:s3:::{}", object.bucket));

    let mut s3_object = S3Object::default();
    s3_object.key = Some(encode_event_key(&object.key));
    s3_object.size = Some(object.size);
    s3_object.e_tag = Some(object.etag.clone());
    s3_object.sequencer = Some(sequencer.to_owned());

    let mut entity = S3Entity::default();
    entity.schema_version = Some("1.0".to_owned());
    entity.configuration_id = Some(configuration_id.to_owned());
    entity.bucket = bucket;
    entity.object = s3_object;

    let mut params = S3RequestParameters::default();
    params.source_ip_address = Some(object.source_ip.clone());

    let mut record = S3EventRecord::default();
    record.event_version = Some("2.1".to_owned());
    record.event_source = Some("aws:s3".to_owned());
    record.aws_region = Some(region.to_owned());
    // S3 reports milliseconds.
    record.event_time = now.trunc_subsecs(3);
    record.event_name = Some(object.created_by.event_name().to_owned());
    record.principal_id = principal;
    record.request_parameters = params;
    record.response_elements = HashMap::from([
        ("x-amz-request-id".to_owned(), object.request_id.clone()),
        ("x-amz-id-2".to_owned(), object.host_id.clone()),
    ]);
    record.s3 = entity;

    let mut event = S3Event::default();
    event.records = vec![record];
    event
}

/// Serialises an event as S3 would send it: fields S3 leaves out (the
/// library's `urlDecodedKey`, `versionId` on unversioned buckets) are omitted
/// rather than sent as `null`.
pub fn to_payload(event: &S3Event) -> Result<Bytes, serde_json::Error> {
    let mut value = serde_json::to_value(event)?;
    drop_nulls(&mut value);
    serde_json::to_vec(&value).map(Bytes::from)
}

fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_like_s3_events() {
        assert_eq!(encode_event_key("batches/a b.json"), "batches/a+b.json");
        assert_eq!(encode_event_key("batches/(1)+x=y&z"), "batches/%281%29%2Bx%3Dy%26z");
        assert_eq!(encode_event_key("batches/é ü.json"), "batches/%C3%A9+%C3%BC.json");
        assert_eq!(encode_event_key("a~b"), "a%7Eb");
    }

    #[test]
    fn sequencers_strictly_increase_in_string_order() {
        let seq = Sequencer::default();
        let values: Vec<String> = (0..1000).map(|_| seq.next()).collect();
        for pair in values.windows(2) {
            assert!(pair[0] < pair[1], "{} !< {}", pair[0], pair[1]);
            assert_eq!(pair[0].len(), pair[1].len());
        }
        assert!(values[0].len() >= 16);
        assert!(values[0].chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn event_has_the_s3_shape() {
        let object = CreatedObject {
            bucket: "pushbatch".into(),
            key: "batches/day 21.json".into(),
            size: 42,
            etag: "0123456789abcdef0123456789abcdef".into(),
            created_by: CreatedBy::Copy,
            source_ip: "127.0.0.1".into(),
            request_id: "REQ".into(),
            host_id: "HOST".into(),
        };
        let now = DateTime::parse_from_rfc3339("2024-05-01T12:00:00.123456Z").unwrap().with_timezone(&Utc);
        let event = build_event(&object, "batches-to-send-batch", "0000000000000000AB", "us-east-1", now);
        let json: Value = serde_json::from_slice(&to_payload(&event).unwrap()).unwrap();
        let r = &json["Records"][0];
        assert_eq!(r["eventVersion"], "2.1");
        assert_eq!(r["eventSource"], "aws:s3");
        assert_eq!(r["awsRegion"], "us-east-1");
        assert_eq!(r["eventTime"], "2024-05-01T12:00:00.123Z");
        assert_eq!(r["eventName"], "ObjectCreated:Copy");
        assert_eq!(r["userIdentity"]["principalId"], PRINCIPAL_ID);
        assert_eq!(r["requestParameters"]["sourceIPAddress"], "127.0.0.1");
        assert_eq!(r["responseElements"]["x-amz-request-id"], "REQ");
        assert_eq!(r["s3"]["s3SchemaVersion"], "1.0");
        assert_eq!(r["s3"]["configurationId"], "batches-to-send-batch");
        assert_eq!(r["s3"]["bucket"]["name"], "pushbatch");
        assert_eq!(r["s3"]["bucket"]["arn"], "arn:aws:s3:::pushbatch");
        assert_eq!(r["s3"]["object"]["key"], "batches/day+21.json");
        assert_eq!(r["s3"]["object"]["size"], 42);
        assert_eq!(r["s3"]["object"]["eTag"], "0123456789abcdef0123456789abcdef");
        assert_eq!(r["s3"]["object"]["sequencer"], "0000000000000000AB");
        assert!(r["s3"]["object"].get("urlDecodedKey").is_none());
        assert!(r["s3"]["object"].get("versionId").is_none());
        let back: S3Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }
}
