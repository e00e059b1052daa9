//! The objects an S3 notification announces.

use aws_lambda_events::s3::S3Event;

/// One ObjectCreated record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedObject {
    pub bucket: String,
    /// Decoded: S3 URL-encodes keys in events, with spaces as `+`.
    pub key: String,
    pub etag: String,
    pub sequencer: String,
}

/// The ObjectCreated records of an event; other records are skipped.
pub fn created_objects(event: S3Event) -> Vec<CreatedObject> {
    event
        .records
        .into_iter()
        .filter(|r| r.event_name.as_deref().is_some_and(|n| n.starts_with("ObjectCreated")))
        .filter_map(|r| {
            Some(CreatedObject {
                bucket: r.s3.bucket.name?,
                key: decode_key(r.s3.object.key.as_deref()?),
                etag: r.s3.object.e_tag.unwrap_or_default(),
                sequencer: r.s3.object.sequencer.unwrap_or_default(),
            })
        })
        .collect()
}

fn decode_key(key: &str) -> String {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}
