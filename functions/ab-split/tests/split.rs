//! ab-split in-process, over an in-memory bucket and runs table.

use std::collections::{BTreeMap, BTreeSet};

use ab_split::handler::{Deps, handle};
use aws_lambda_events::s3::S3Event;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use shared::campaigns::{CONTROL, MemoryRuns, find};
use shared::objects::{MemoryObjects, ObjectList, ObjectRead};

const BUCKET: &str = "b";
const SEGMENT: &str = "segments/day21-inactive/2026-11-24.jsonl";

fn event(key: &str, etag: &str) -> S3Event {
    serde_json::from_value(json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-24T18:00:05.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "x"}, "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
            "bucket": {"name": BUCKET, "ownerIdentity": {"principalId": "x"}, "arn": "arn:aws:s3:::b"},
            "object": {"key": key, "size": 1, "eTag": etag, "sequencer": "0A"}}
    }]}))
    .unwrap()
}

fn segment(n: usize) -> String {
    let mut out = String::new();
    for i in 0..n {
        let line = if i % 2 == 0 {
            json!(format!("u-{i}"))
        } else {
            json!({"user_id": format!("u-{i}"), "vars": {"name": "N"}})
        };
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

async fn split(deps: &Deps<MemoryObjects, MemoryRuns>, etag: &str) -> Result<Value, lambda_runtime::Error> {
    handle(deps, LambdaEvent { payload: event(SEGMENT, etag), context: Context::default() }).await
}

fn read_lines(objects: &MemoryObjects, key: &str) -> (Value, Vec<Value>) {
    let body = objects.get(BUCKET, key).unwrap_or_else(|| panic!("{key} missing"));
    let mut lines = body.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap());
    let header = lines.next().unwrap();
    (header, lines.collect())
}

fn id_of(entry: &Value) -> String {
    entry.as_str().map_or_else(|| entry["user_id"].as_str().unwrap().to_owned(), str::to_owned)
}

#[tokio::test]
async fn every_user_lands_in_exactly_the_variant_the_hash_gives() {
    let deps = Deps { objects: MemoryObjects::default(), runs: MemoryRuns::default() };
    let etag = deps.objects.insert(BUCKET, SEGMENT, segment(3000));
    split(&deps, &etag).await.unwrap();
    let campaign = find("day21-inactive").unwrap();

    let mut seen = BTreeSet::new();
    let mut counts = BTreeMap::new();
    for variant in campaign.variants {
        let key = format!("batches/campaigns/day21-inactive/2026-11-24/{}.jsonl", variant.name);
        let (header, users) = read_lines(&deps.objects, &key);
        assert_eq!(header["campaign"], "day21-inactive");
        assert_eq!(header["variant"], variant.name);
        assert_eq!(header["notification"]["title"], variant.title);
        for user in &users {
            let id = id_of(user);
            assert_eq!(campaign.assign(&id).name(), variant.name, "{id}");
            assert!(seen.insert(id), "a user is in two files");
        }
        counts.insert(variant.name.to_owned(), users.len() as u64);
    }
    let (control_header, control) =
        read_lines(&deps.objects, "reports/campaigns/day21-inactive/2026-11-24/control.jsonl");
    assert_eq!(control_header["variant"], CONTROL);
    for user in &control {
        assert_eq!(campaign.assign(&id_of(user)).name(), CONTROL);
        assert!(seen.insert(id_of(user)));
    }
    counts.insert(CONTROL.to_owned(), control.len() as u64);
    assert_eq!(seen.len(), 3000, "every user is in one file");

    // Vars survive; plain ids stay plain.
    let all: Vec<Value> = deps
        .objects
        .list(BUCKET, "batches/")
        .await
        .unwrap()
        .iter()
        .flat_map(|k| read_lines(&deps.objects, k).1)
        .collect();
    assert!(all.iter().any(|u| u["vars"]["name"] == "N"));
    assert!(all.iter().any(Value::is_string));

    let run = deps.runs.get("day21-inactive", "2026-11-24").unwrap().split.unwrap();
    assert_eq!(run.assigned, counts);
    assert_eq!(run.entries, 3000);
    assert_eq!(run.batches.len(), campaign.variants.len());
    assert!(deps.objects.list(BUCKET, "batches/").await.unwrap().iter().all(|k| !k.contains(CONTROL)));
    let assignment: Value = serde_json::from_slice(
        &deps.objects.get(BUCKET, "reports/campaigns/day21-inactive/2026-11-24/assignment.json").unwrap(),
    )
    .unwrap();
    assert_eq!(assignment["split"]["assigned"][CONTROL], counts[CONTROL]);
}

#[tokio::test]
async fn a_duplicate_event_or_retry_never_replaces_a_batch_file() {
    let deps = Deps { objects: MemoryObjects::default(), runs: MemoryRuns::default() };
    let etag = deps.objects.insert(BUCKET, SEGMENT, segment(500));
    split(&deps, &etag).await.unwrap();
    let keys = deps.objects.list(BUCKET, "batches/").await.unwrap();
    let mut etags = Vec::new();
    for key in &keys {
        etags.push(deps.objects.head(BUCKET, key).await.unwrap().etag);
    }
    let first = deps.runs.get("day21-inactive", "2026-11-24").unwrap().split.unwrap();
    split(&deps, &etag).await.unwrap();
    for (key, etag) in keys.iter().zip(&etags) {
        assert_eq!(&deps.objects.head(BUCKET, key).await.unwrap().etag, etag, "{key} was rewritten");
    }
    let second = deps.runs.get("day21-inactive", "2026-11-24").unwrap().split.unwrap();
    assert_eq!((first.assigned, first.batches), (second.assigned, second.batches));
}

#[tokio::test]
async fn invalid_entries_are_counted_and_malformed_segments_write_nothing() {
    let deps = Deps { objects: MemoryObjects::default(), runs: MemoryRuns::default() };
    let etag = deps.objects.insert(BUCKET, SEGMENT, "\"u-1\"\n{\"vars\":{}}\n42\n\"u-2\"\n");
    split(&deps, &etag).await.unwrap();
    let run = deps.runs.get("day21-inactive", "2026-11-24").unwrap().split.unwrap();
    assert_eq!(run.entries, 4);
    assert_eq!(run.invalid.values().sum::<u64>(), 2);
    assert_eq!(run.assigned.values().sum::<u64>(), 2);

    let deps = Deps { objects: MemoryObjects::default(), runs: MemoryRuns::default() };
    let etag = deps.objects.insert(BUCKET, SEGMENT, format!("{}{{\"user_id\": \n", segment(100)));
    let err = split(&deps, &etag).await.unwrap_err().to_string();
    assert!(err.contains(SEGMENT) && err.contains("line 101"), "{err}");
    assert!(deps.objects.list(BUCKET, "batches/").await.unwrap().is_empty());
    assert!(deps.runs.get("day21-inactive", "2026-11-24").is_none());
}

#[tokio::test]
async fn keys_that_are_not_segments_of_known_campaigns_are_refused() {
    let deps = Deps { objects: MemoryObjects::default(), runs: MemoryRuns::default() };
    for (key, expected) in [
        ("segments/nope/2026-11-24.jsonl", "unknown campaign"),
        ("segments/day1-signup/today.jsonl", "not a YYYY-MM-DD"),
    ] {
        let etag = deps.objects.insert(BUCKET, key, "\"u-1\"\n");
        let payload = event(key, &etag);
        let err = handle(&deps, LambdaEvent { payload, context: Context::default() }).await.unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
}

#[test]
fn the_sample_event_is_a_segment_of_a_known_campaign() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/ab-split-s3-put.json");
    let event: S3Event = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let objects = shared::objects::created_objects(event);
    assert_eq!(objects.len(), 1);
    let key = shared::campaigns::SegmentKey::parse(&objects[0].key).unwrap();
    assert!(find(&key.campaign).is_some());
}

/// The same users on two days (and a re-run of ab-split on another day's
/// segment) land in the same variants: assignment ignores the date.
#[tokio::test]
async fn a_user_keeps_their_variant_across_days() {
    let deps = Deps { objects: MemoryObjects::default(), runs: MemoryRuns::default() };
    let mut by_day: Vec<BTreeMap<String, String>> = Vec::new();
    for day in ["2026-11-23", "2026-11-24"] {
        let key = format!("segments/day21-inactive/{day}.jsonl");
        let etag = deps.objects.insert(BUCKET, &key, segment(800));
        handle(&deps, LambdaEvent { payload: event(&key, &etag), context: Context::default() }).await.unwrap();
        let mut variant_of = BTreeMap::new();
        let files = deps.objects.list(BUCKET, &format!("batches/campaigns/day21-inactive/{day}/")).await.unwrap();
        assert!(!files.is_empty());
        for file in files {
            let (header, users) = read_lines(&deps.objects, &file);
            for user in users {
                variant_of.insert(id_of(&user), header["variant"].as_str().unwrap().to_owned());
            }
        }
        by_day.push(variant_of);
    }
    assert!(by_day[0].len() > 600, "most users are in a variant");
    assert_eq!(by_day[0], by_day[1]);
}
