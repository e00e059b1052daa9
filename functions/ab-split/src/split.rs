//! Splitting one segment. The outputs are a pure function of the segment
//! and the campaign definition, and every file is written create-only: a
//! duplicate S3 event, a Lambda retry after a crash half-way, or a second
//! segment for the same day can never replace a batch file, and so can never
//! start a second send. Files are streamed (multipart uploads, completed
//! create-only), so memory does not grow with the segment.

use shared::clock::now_ms;
use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::{Value, json};
use shared::batch::{Encoding, EntryReader, UserEntry};
use shared::campaigns::{
    self, Assigned, CONTROL, Campaign, RunSplit, SegmentKey, SplitRecord, assignment_key, control_key, variant_key,
};
use shared::jobs::object_id;
use shared::objects::{Created, CreatedObject, ObjectCreate, ObjectRead, ObjectUpload, ObjectWrite, StreamedObject};

#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("{0}")]
    NotASegment(String),
    #[error("{key}: unknown campaign {campaign:?} (campaigns are defined in shared/src/campaigns/defs.rs)")]
    UnknownCampaign { key: String, campaign: String },
    #[error("{key}: {source}")]
    Read { key: String, source: shared::batch::ReadError },
    #[error(transparent)]
    Object(#[from] shared::objects::ObjectError),
    #[error(transparent)]
    Run(#[from] shared::campaigns::RunError),
    #[error("serializing an entry: {0}")]
    Json(#[from] serde_json::Error),
}

/// One output file being written: its header line, then its users,
/// streamed into a multipart upload that nobody sees until it completes,
/// so memory is one part per output whatever the segment's size.
struct Output<'a, O> {
    name: String,
    key: String,
    file: StreamedObject<'a, O>,
    line: Vec<u8>,
    users: u64,
}

impl<'a, O: ObjectUpload + ObjectWrite> Output<'a, O> {
    async fn new(objects: &'a O, bucket: &str, name: &str, key: String, header: &Value) -> Result<Self, SplitError> {
        let mut file = StreamedObject::new(objects, bucket, &key, "application/x-ndjson");
        file.write(format!("{header}\n").as_bytes()).await?;
        Ok(Self { name: name.to_owned(), key, file, line: Vec::new(), users: 0 })
    }

    async fn push(&mut self, entry: &UserEntry) -> Result<(), SplitError> {
        self.line.clear();
        // Plain ids stay plain strings: most entries, and a third of the size.
        if entry.vars.is_empty() && entry.devices.is_none() {
            serde_json::to_writer(&mut self.line, &entry.user_id)?;
        } else {
            serde_json::to_writer(&mut self.line, entry)?;
        }
        self.line.push(b'\n');
        self.file.write(&self.line).await?;
        self.users += 1;
        Ok(())
    }
}

pub async fn split<O, R>(objects: &O, runs: &R, segment: &CreatedObject) -> Result<SplitRecord, SplitError>
where
    O: ObjectRead + ObjectCreate + ObjectWrite + ObjectUpload,
    R: RunSplit,
{
    let parsed = SegmentKey::parse(&segment.key).map_err(SplitError::NotASegment)?;
    let campaign = campaigns::find(&parsed.campaign)
        .ok_or_else(|| SplitError::UnknownCampaign { key: segment.key.clone(), campaign: parsed.campaign.clone() })?;
    let job = format!("{}/{}", campaign.id, parsed.run_date);
    let day = parsed.run_date;

    let bucket = segment.bucket.as_str();
    let mut outputs = Vec::with_capacity(campaign.variants.len() + 1);
    for v in campaign.variants {
        let header = serde_json::to_value(campaign.header(v)).expect("a campaign's header encodes as JSON");
        outputs.push(Output::new(objects, bucket, v.name, variant_key(campaign.id, day, v.name), &header).await?);
    }
    let control_header = json!({"campaign": campaign.id, "variant": CONTROL, "category": campaign.category,
                                "note": "control group: recorded here, never sent"});
    outputs.push(Output::new(objects, bucket, CONTROL, control_key(campaign.id, day), &control_header).await?);

    let mut record = SplitRecord {
        segment_etag: shared::objects::unquote(&segment.etag),
        control_key: control_key(campaign.id, day),
        ..SplitRecord::default()
    };
    // Read everything before completing anything: the uploads stay
    // invisible until then, so a malformed segment writes no batch file at
    // all (its uploads are aborted), rather than some of them.
    if let Err(e) = read_segment(objects, segment, campaign, &mut outputs, &mut record).await {
        for output in outputs {
            output.file.abort().await;
        }
        return Err(e);
    }
    tracing::info!(job, entries = record.entries, "segment read; writing the variants");

    for output in outputs {
        record.assigned.insert(output.name.clone(), output.users);
        if output.users == 0 {
            output.file.abort().await;
            continue;
        }
        let info = match output.file.finish_new().await? {
            Created::New(info) => {
                tracing::info!(job, variant = output.name, users = output.users, key = output.key, "written");
                // Only files this attempt wrote: a repeated event adds nothing.
                shared::metrics::campaigns::assigned(campaign.id, &output.name, output.users);
                info
            }
            Created::AlreadyExists => {
                tracing::info!(
                    job,
                    variant = output.name,
                    key = output.key,
                    "already written by an earlier attempt: kept"
                );
                objects.head(&segment.bucket, &output.key).await?
            }
        };
        if output.name != CONTROL {
            record.batches.insert(output.name, object_id(&segment.bucket, &output.key, &info.etag));
        }
    }
    record.at_ms = now_ms();
    let summary = json!({"campaign": campaign.id, "run_date": day.to_string(), "segment": segment.key,
                         "split": record});
    objects
        .put(
            &segment.bucket,
            &assignment_key(campaign.id, day),
            Bytes::from(serde_json::to_vec_pretty(&summary)?),
            "application/json",
        )
        .await?;
    runs.record_split(campaign.id, &day.to_string(), &record).await?;
    log_counts(&job, campaign, &record.assigned);
    Ok(record)
}

/// Reads the segment, each user into their variant's (or control's) output.
async fn read_segment<O>(
    objects: &O,
    segment: &CreatedObject,
    campaign: &Campaign,
    outputs: &mut [Output<'_, O>],
    record: &mut SplitRecord,
) -> Result<(), SplitError>
where
    O: ObjectRead + ObjectWrite + ObjectUpload,
{
    let reader = objects.open(&segment.bucket, &segment.key, &segment.etag, 0).await?;
    let mut entries = EntryReader::new(reader, 0, Encoding::Jsonl, 1);
    let control = outputs.len() - 1;
    loop {
        let item =
            entries.next_entry().await.map_err(|source| SplitError::Read { key: segment.key.clone(), source })?;
        let Some(item) = item else { return Ok(()) };
        record.entries += 1;
        match &item.entry {
            Ok(entry) => {
                let slot = match campaign.assign(&entry.user_id) {
                    Assigned::Variant(v) => campaign.variants.iter().position(|w| w.name == v.name),
                    Assigned::Control => None,
                }
                .unwrap_or(control);
                outputs[slot].push(entry).await?;
            }
            Err(reason) => *record.invalid.entry(reason.key().to_owned()).or_default() += 1,
        }
    }
}

fn log_counts(job: &str, campaign: &Campaign, assigned: &BTreeMap<String, u64>) {
    let total: u64 = assigned.values().sum();
    let control = assigned.get(CONTROL).copied().unwrap_or(0);
    tracing::info!(job, campaign = campaign.id, users = total, control, assigned = ?assigned, "split done");
}
