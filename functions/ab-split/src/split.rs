//! Splitting one segment. The outputs are a pure function of the segment
//! and the campaign definition, and every file is written create-only: a
//! duplicate S3 event, a Lambda retry after a crash half-way, or a second
//! segment for the same day can never replace a batch file, and so can never
//! start a second send.

use shared::clock::now_ms;
use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::{Value, json};
use shared::batch::{Encoding, EntryReader, UserEntry};
use shared::campaigns::{
    self, Assigned, CONTROL, Campaign, RunSplit, SegmentKey, SplitRecord, assignment_key, control_key, variant_key,
};
use shared::jobs::object_id;
use shared::objects::{Created, CreatedObject, ObjectCreate, ObjectRead, ObjectWrite};

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

/// One output file being built: its header line, then its users.
struct Output {
    name: String,
    key: String,
    body: Vec<u8>,
    users: u64,
}

impl Output {
    fn new(name: &str, key: String, header: &Value) -> Self {
        let mut body = header.to_string().into_bytes();
        body.push(b'\n');
        Self { name: name.to_owned(), key, body, users: 0 }
    }

    fn push(&mut self, entry: &UserEntry) -> Result<(), serde_json::Error> {
        // Plain ids stay plain strings: most entries, and a third of the size.
        if entry.vars.is_empty() && entry.devices.is_none() {
            serde_json::to_writer(&mut self.body, &entry.user_id)?;
        } else {
            serde_json::to_writer(&mut self.body, entry)?;
        }
        self.body.push(b'\n');
        self.users += 1;
        Ok(())
    }
}

pub async fn split<O, R>(objects: &O, runs: &R, segment: &CreatedObject) -> Result<SplitRecord, SplitError>
where
    O: ObjectRead + ObjectCreate + ObjectWrite,
    R: RunSplit,
{
    let parsed = SegmentKey::parse(&segment.key).map_err(SplitError::NotASegment)?;
    let campaign = campaigns::find(&parsed.campaign)
        .ok_or_else(|| SplitError::UnknownCampaign { key: segment.key.clone(), campaign: parsed.campaign.clone() })?;
    let job = format!("{}/{}", campaign.id, parsed.run_date);
    let day = parsed.run_date;

    let mut outputs: Vec<Output> = campaign
        .variants
        .iter()
        .map(|v| {
            let header = serde_json::to_value(campaign.header(v)).expect("a campaign's header encodes as JSON");
            Output::new(v.name, variant_key(campaign.id, day, v.name), &header)
        })
        .collect();
    let control_header = json!({"campaign": campaign.id, "variant": CONTROL, "category": campaign.category,
                                "note": "control group: recorded here, never sent"});
    outputs.push(Output::new(CONTROL, control_key(campaign.id, day), &control_header));

    let mut record = SplitRecord {
        segment_etag: shared::objects::unquote(&segment.etag),
        control_key: control_key(campaign.id, day),
        ..SplitRecord::default()
    };
    // Read everything before writing anything: a malformed segment writes
    // no batch file at all, rather than some of them.
    let reader = objects.open(&segment.bucket, &segment.key, &segment.etag, 0).await?;
    let mut entries = EntryReader::new(reader, 0, Encoding::Jsonl, 1);
    loop {
        let item =
            entries.next_entry().await.map_err(|source| SplitError::Read { key: segment.key.clone(), source })?;
        let Some(item) = item else { break };
        record.entries += 1;
        match &item.entry {
            Ok(entry) => {
                let slot = match campaign.assign(&entry.user_id) {
                    Assigned::Variant(v) => campaign.variants.iter().position(|w| w.name == v.name),
                    Assigned::Control => None,
                }
                .unwrap_or(outputs.len() - 1);
                outputs[slot].push(entry)?;
            }
            Err(reason) => *record.invalid.entry(reason.key().to_owned()).or_default() += 1,
        }
    }
    tracing::info!(job, entries = record.entries, "segment read; writing the variants");

    for output in outputs {
        record.assigned.insert(output.name.clone(), output.users);
        if output.users == 0 {
            continue;
        }
        let info =
            match objects.create(&segment.bucket, &output.key, Bytes::from(output.body), "application/x-ndjson").await?
            {
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

fn log_counts(job: &str, campaign: &Campaign, assigned: &BTreeMap<String, u64>) {
    let total: u64 = assigned.values().sum();
    let control = assigned.get(CONTROL).copied().unwrap_or(0);
    tracing::info!(job, campaign = campaign.id, users = total, control, assigned = ?assigned, "split done");
}
