//! The report from documents the functions wrote (captured from a local
//! stack's watch.log), and its text.

use super::emf::parse;
use super::render::{chart, render};
use super::report::{Report, percentile};

/// send-batch's push clients, its SDK calls, approval and devices: lines
/// as they appear in watch.log, two minutes apart.
const CAPTURED: &str = include_str!("captured-emf.jsonl");

fn report() -> Report {
    let points: Vec<_> = CAPTURED.lines().flat_map(|l| parse(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    Report::from_datapoints(&points)
}

#[test]
fn percentiles_follow_counts() {
    let samples = [(100.0, 50), (200.0, 49), (5000.0, 1)];
    assert_eq!(percentile(&samples, 0.5), 100.0);
    assert_eq!(percentile(&samples, 0.99), 200.0);
    assert_eq!(percentile(&samples, 1.0), 5000.0);
    assert_eq!(percentile(&[], 0.5), 0.0);
}

#[test]
fn captured_documents_add_up_to_the_dashboard_numbers() {
    let r = report();
    let total: u64 = r.answers.values().sum();
    assert!(total > 0, "{r:?}");
    assert_eq!(r.answers_per_minute.values().sum::<u64>(), total, "every answer is in some minute");
    for key in r.answers.keys() {
        let (provider, outcome) = key.split_once('/').expect("provider/outcome");
        assert!(["apns", "fcm"].contains(&provider), "{key}");
        assert!(["delivered", "dead", "retry", "auth_expired", "failed"].contains(&outcome), "{key}");
    }
    for (provider, p) in &r.push_latency {
        assert!(p.count > 0 && p.p50 <= p.p99, "{provider}: {p:?}");
    }
    assert!(r.aws_latency.keys().any(|k| k.starts_with("DynamoDB ")), "{:?}", r.aws_latency.keys());
    assert!(r.aws_latency.keys().any(|k| k.starts_with("S3 ")), "{:?}", r.aws_latency.keys());
}

#[test]
fn the_text_has_each_section_and_a_bar_per_minute() {
    let r = report();
    let text = render(&r);
    for section in
        ["Sends (provider answers)", "Sends per minute", "Failure rate", "Provider latency", "DynamoDB and S3"]
    {
        assert!(text.contains(section), "no {section} in\n{text}");
    }
    let bars = chart(&r.answers_per_minute);
    let first = *r.answers_per_minute.keys().next().expect("a minute");
    let last = *r.answers_per_minute.keys().next_back().expect("a minute");
    assert_eq!(bars.lines().count() as u64, last - first + 1, "{bars}");
    let peak = *r.answers_per_minute.values().max().expect("a peak");
    let widest = bars.lines().find(|l| l.ends_with(&format!(" {peak}"))).expect("the peak's bar");
    assert_eq!(widest.matches('█').count(), 40, "the busiest minute fills the bar: {widest}");
}

#[test]
fn an_empty_collection_says_so() {
    assert!(render(&Report::default()).starts_with("no metrics collected yet"));
    assert_eq!(chart(&Default::default()), "");
}
