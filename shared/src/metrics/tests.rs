//! The EMF documents each typed function produces, parsed back.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;
use crate::batch::Platform;
use crate::counters::{Counters, DeviceCounters};

fn flush(exporter: &Exporter, now: Instant) -> Vec<Value> {
    let mut out = Vec::new();
    exporter.flush_to(&mut out, now).expect("flush");
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.is_empty() || text.ends_with('\n'), "documents are whole lines");
    text.lines().map(|l| serde_json::from_str(l).expect("each line is one JSON document")).collect()
}

fn record(exporter: &Exporter, f: impl FnOnce()) -> Vec<Value> {
    metrics::with_local_recorder(exporter.recorder(), f);
    flush(exporter, Instant::now())
}

/// The one directive of `doc`, checked against the EMF specification:
/// namespace, dimension names present as string members, every metric's
/// value present as a member, at most 100 metrics and 30 dimensions.
fn directive(doc: &Value) -> &Value {
    let aws = &doc["_aws"];
    assert!(aws["Timestamp"].as_u64().is_some_and(|t| t > 1_600_000_000_000), "{doc}");
    let directives = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics");
    assert_eq!(directives.len(), 1, "{doc}");
    let d = &directives[0];
    assert_eq!(d["Namespace"], names::NAMESPACE);
    for set in d["Dimensions"].as_array().expect("Dimensions") {
        let set = set.as_array().expect("a dimension set");
        assert!(set.len() <= 30);
        for name in set {
            let name = name.as_str().expect("dimension names are strings");
            assert!(doc[name].is_string(), "dimension {name} has a string value in {doc}");
        }
    }
    let metrics = d["Metrics"].as_array().expect("Metrics");
    assert!(!metrics.is_empty() && metrics.len() <= 100, "{doc}");
    for m in metrics {
        let name = m["Name"].as_str().expect("Name");
        assert!(names::find(name).is_some(), "{name} is not in names::ALL");
        assert!(!doc[name].is_null(), "{name} has no value in {doc}");
    }
    d
}

/// The document whose directive holds `metric`.
fn doc_of<'a>(docs: &'a [Value], metric: &str, dims: &[(&str, &str)]) -> &'a Value {
    docs.iter()
        .find(|d| {
            let names: Vec<&str> =
                directive(d)["Metrics"].as_array().into_iter().flatten().filter_map(|m| m["Name"].as_str()).collect();
            names.contains(&metric) && dims.iter().all(|(k, v)| d[*k] == *v)
        })
        .unwrap_or_else(|| panic!("no document with {metric} {dims:?} in {docs:#?}"))
}

fn unit_of(doc: &Value, metric: &str) -> String {
    let metrics = directive(doc)["Metrics"].as_array().expect("Metrics").clone();
    let m = metrics.iter().find(|m| m["Name"] == metric).expect("metric");
    m["Unit"].as_str().unwrap_or("None").to_string()
}

/// Total count of a distribution written as `{"Values": [..], "Counts": [..]}`.
fn samples(value: &Value) -> (Vec<f64>, u64) {
    let values: Vec<f64> = value["Values"].as_array().expect("Values").iter().filter_map(Value::as_f64).collect();
    let counts: u64 = value["Counts"].as_array().expect("Counts").iter().filter_map(Value::as_u64).sum();
    assert_eq!(values.len(), value["Counts"].as_array().map_or(0, Vec::len));
    (values, counts)
}

#[test]
fn push_answers_are_counted_by_provider_and_outcome() {
    let exporter = Exporter::new("send-batch");
    let docs = record(&exporter, || {
        for _ in 0..3 {
            answer(Provider::Apns, AnswerClass::Delivered);
        }
        answer(Provider::Apns, AnswerClass::Dead);
        answer(Provider::Fcm, AnswerClass::Retry);
    });
    let doc = doc_of(&docs, "PushAnswers", &[("provider", "apns"), ("outcome", "delivered")]);
    assert_eq!(doc["PushAnswers"], json!(3));
    assert_eq!(doc["function"], "send-batch");
    assert_eq!(unit_of(doc, "PushAnswers"), "Count");
    let mut dims: Vec<&str> =
        directive(doc)["Dimensions"][0].as_array().expect("set").iter().filter_map(Value::as_str).collect();
    dims.sort_unstable();
    assert_eq!(dims, ["function", "outcome", "provider"]);
    assert_eq!(doc_of(&docs, "PushAnswers", &[("outcome", "dead")])["PushAnswers"], json!(1));
    assert_eq!(doc_of(&docs, "PushAnswers", &[("provider", "fcm")])["outcome"], "retry");
    let again = flush(&exporter, Instant::now());
    assert!(again.is_empty(), "counters reset after a flush: {again:#?}");
}

#[test]
fn latency_is_one_distribution_of_at_most_100_values_however_many_requests() {
    let exporter = Exporter::new("send-batch");
    let docs = record(&exporter, || {
        for i in 0..100_000u64 {
            latency(Provider::Fcm, Duration::from_micros(50 + i * 97));
        }
    });
    let doc = doc_of(&docs, "PushLatency", &[("provider", "fcm")]);
    assert_eq!(unit_of(doc, "PushLatency"), "Microseconds");
    let (values, count) = samples(&doc["PushLatency"]);
    assert_eq!(count, 100_000, "every request is counted");
    assert!(values.len() <= 100, "{} values", values.len());
    assert!(values.iter().all(|v| (100.0..=12_000_000.0).contains(v)), "{values:?}");
}

#[test]
fn throttled_time_adds_up_in_microseconds() {
    let exporter = Exporter::new("send-batch");
    let docs = record(&exporter, || {
        throttled(Provider::Fcm, Duration::from_micros(700));
        throttled(Provider::Fcm, Duration::from_millis(2));
        throttled(Provider::Fcm, Duration::ZERO);
    });
    let doc = doc_of(&docs, "ThrottledTime", &[("provider", "fcm")]);
    assert_eq!(doc["ThrottledTime"], json!(2700));
    assert_eq!(unit_of(doc, "ThrottledTime"), "Microseconds");
}

#[test]
fn aws_calls_are_timed_by_service_and_operation() {
    let exporter = Exporter::new("devices");
    let docs = record(&exporter, || {
        aws_calls::record("DynamoDB", "UpdateItem", Duration::from_millis(4), false);
        aws_calls::record("DynamoDB", "UpdateItem", Duration::from_millis(6), true);
        aws_calls::record("S3", "GetObject", Duration::from_millis(20), false);
    });
    let doc = doc_of(&docs, "AwsCallLatency", &[("service", "DynamoDB"), ("operation", "UpdateItem")]);
    assert_eq!(samples(&doc["AwsCallLatency"]).1, 2);
    assert_eq!(doc["AwsCallErrors"], json!(1), "errors share the latency's dimensions: {doc}");
    assert_eq!(samples(&doc_of(&docs, "AwsCallLatency", &[("service", "S3")])["AwsCallLatency"]).1, 1);
}

#[test]
fn approval_and_devices_events() {
    let exporter = Exporter::new("approval");
    let docs = record(&exporter, || {
        approval::submitted();
        approval::approved();
        approval::rejected();
        approval::expired_link();
        approval::test_send();
        approval::test_send();
    });
    let doc = doc_of(&docs, "TestSends", &[]);
    let expected =
        [("RequestsSubmitted", 1), ("Approvals", 1), ("Rejections", 1), ("ExpiredLinks", 1), ("TestSends", 2)];
    for (name, n) in expected {
        assert_eq!(doc[name], json!(n), "{name} in {doc}");
    }
    assert_eq!(directive(doc)["Dimensions"], json!([["function"]]));

    let exporter = Exporter::new("devices");
    let docs = record(&exporter, || {
        devices::registered(Provider::Apns, true, &[Provider::Fcm]);
        devices::registered(Provider::Apns, false, &[]);
        devices::unregistered();
    });
    assert_eq!(doc_of(&docs, "DeviceRegistrations", &[("result", "created")])["DeviceRegistrations"], json!(1));
    assert_eq!(doc_of(&docs, "DeviceRegistrations", &[("result", "refreshed")])["provider"], "apns");
    assert_eq!(doc_of(&docs, "DevicesEvicted", &[("provider", "fcm")])["DevicesEvicted"], json!(1));
    assert_eq!(doc_of(&docs, "DeviceUnregistrations", &[])["DeviceUnregistrations"], json!(1));
}

#[test]
fn campaigns_count_users_per_campaign_and_variant() {
    let exporter = Exporter::new("ab-split");
    let docs = record(&exporter, || {
        campaigns::segmented("day21-inactive", 1200);
        campaigns::assigned("day21-inactive", "a", 360);
        campaigns::assigned("day21-inactive", "control", 120);
    });
    assert_eq!(doc_of(&docs, "UsersSegmented", &[("campaign", "day21-inactive")])["UsersSegmented"], json!(1200));
    assert_eq!(doc_of(&docs, "UsersAssigned", &[("variant", "a")])["UsersAssigned"], json!(360));
    assert_eq!(doc_of(&docs, "UsersAssigned", &[("variant", "control")])["UsersAssigned"], json!(120));
}

fn batch(ios: DeviceCounters, android: DeviceCounters, entries: u64) -> Counters {
    Counters {
        entries,
        devices: BTreeMap::from([(Platform::Ios, ios), (Platform::Android, android)]),
        ..Counters::default()
    }
}

fn leaked(function: &str) -> &'static Exporter {
    Box::leak(Box::new(Exporter::new(function)))
}

/// The send loop's metrics: the job id travels as a property and the
/// checkpoint level is read at flush time.
#[test]
fn a_link_publishes_devices_users_and_its_checkpoint_age_with_the_job_id() {
    let exporter = leaked("send-batch");
    let start = Instant::now();
    let mut link = send::Link::start(Some(exporter), "day21-a1b2c3d4e5f6", start);
    let apns = DeviceCounters { attempted: 10, delivered: 7, pruned: 2, failed: 1, retries: 3 };
    let fcm = DeviceCounters { attempted: 5, delivered: 5, ..DeviceCounters::default() };
    metrics::with_local_recorder(exporter.recorder(), || {
        link.batch(&batch(apns, fcm, 12));
        link.batch(&batch(apns, DeviceCounters::default(), 8));
    });

    let docs = flush(exporter, start + Duration::from_secs(95));
    let apns_doc = doc_of(&docs, "DevicesAttempted", &[("provider", "apns")]);
    for (name, n) in [("DevicesAttempted", 20), ("DevicesDelivered", 14), ("DevicesPruned", 4), ("DevicesFailed", 2)] {
        assert_eq!(apns_doc[name], json!(n), "{name}");
    }
    assert_eq!(apns_doc["PushRetries"], json!(6));
    assert_eq!(apns_doc["job_id"], "day21-a1b2c3d4e5f6", "the job id is a property");
    let dims = directive(apns_doc)["Dimensions"].to_string();
    assert!(!dims.contains("job_id"), "never a dimension: {dims}");
    let level = doc_of(&docs, "SecondsSinceCheckpoint", &[]);
    assert_eq!(level["SecondsSinceCheckpoint"].as_f64(), Some(95.0));
    assert_eq!(unit_of(level, "SecondsSinceCheckpoint"), "Seconds");

    link.checkpointed();
    let level =
        doc_of(&flush(exporter, Instant::now()), "SecondsSinceCheckpoint", &[])["SecondsSinceCheckpoint"].clone();
    assert!(level.as_f64().is_some_and(|s| s < 60.0), "a checkpoint resets the level: {level}");
    drop(link);
    let after = flush(exporter, Instant::now());
    assert!(after.is_empty(), "an ended link has no level and no job id: {after:?}");
}

#[test]
fn link_totals_are_written_when_a_link_finishes() {
    let exporter = leaked("send-batch");
    let docs = record(exporter, || {
        let mut link = send::Link::start(Some(exporter), "job-1", Instant::now());
        link.batch(&batch(DeviceCounters::default(), DeviceCounters::default(), 3000));
        link.finish_unflushed(Duration::from_secs(2));
    });
    let doc = doc_of(&docs, "LinkUsers", &[]);
    assert_eq!(doc["LinkUsers"], json!(3000));
    let (values, count) = samples(&doc["UsersPerSecond"]);
    assert_eq!(count, 1);
    // The recorder's buckets are within 6.25 %.
    assert!((values[0] - 1500.0).abs() <= 1500.0 * 0.0625, "{values:?}");
    assert_eq!(unit_of(doc, "UsersPerSecond"), "Count/Second");
}
