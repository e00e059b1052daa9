//! The numbers the CloudWatch dashboard shows, computed from collected
//! datapoints: sends per minute by provider and outcome, failure rate,
//! latency percentiles, DynamoDB and S3 latency, approvals, registrations.

use std::collections::BTreeMap;

use serde::Serialize;
use shared::metrics::names::{self, NAMESPACE};

use super::emf::Datapoint;

/// A distribution's percentiles and size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p99: f64,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct Report {
    /// `provider/outcome` → answers.
    pub answers: BTreeMap<String, u64>,
    /// Minute (Unix seconds / 60) → answers of every provider and outcome.
    pub answers_per_minute: BTreeMap<u64, u64>,
    /// Failed answers over all answers, percent.
    pub answer_failure_percent: Option<f64>,
    /// DevicesFailed over DevicesAttempted, percent (send-batch's job
    /// counters; absent until the send loop publishes them).
    pub device_failure_percent: Option<f64>,
    /// Provider → latency in microseconds.
    pub push_latency: BTreeMap<String, Percentiles>,
    /// `service operation` → latency in microseconds, and errors.
    pub aws_latency: BTreeMap<String, Percentiles>,
    pub aws_errors: BTreeMap<String, u64>,
    /// Provider → microseconds requests waited for a rate limit.
    pub throttled_us: BTreeMap<String, u64>,
    /// Every other count, by metric name and dimension values.
    pub counts: BTreeMap<String, u64>,
}

/// The value under which `q` of the samples fall, by cumulative count.
pub fn percentile(samples: &[(f64, u64)], q: f64) -> f64 {
    let mut sorted: Vec<(f64, u64)> = samples.iter().copied().filter(|(_, n)| *n > 0).collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total: u64 = sorted.iter().map(|(_, n)| n).sum();
    let rank = (q * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (value, n) in &sorted {
        seen += n;
        if seen >= rank {
            return *value;
        }
    }
    sorted.last().map_or(0.0, |(v, _)| *v)
}

fn percentiles(samples: &[(f64, u64)]) -> Percentiles {
    Percentiles {
        count: samples.iter().map(|(_, n)| n).sum(),
        p50: percentile(samples, 0.5),
        p99: percentile(samples, 0.99),
    }
}

fn percent(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| 100.0 * part / whole)
}

impl Report {
    pub fn from_datapoints(points: &[Datapoint]) -> Self {
        let mut r = Report::default();
        let mut latency: BTreeMap<String, Vec<(f64, u64)>> = BTreeMap::new();
        let mut aws: BTreeMap<String, Vec<(f64, u64)>> = BTreeMap::new();
        let (mut attempted, mut failed) = (0.0, 0.0);
        for p in points.iter().filter(|p| p.namespace == NAMESPACE) {
            let n = p.sum() as u64;
            let name = p.name.as_str();
            let call = || format!("{} {}", p.dimension("service"), p.dimension("operation"));
            if name == names::PUSH_ANSWERS.name {
                let key = format!("{}/{}", p.dimension("provider"), p.dimension("outcome"));
                *r.answers.entry(key).or_default() += n;
                *r.answers_per_minute.entry(p.at_ms / 60_000).or_default() += n;
            } else if name == names::PUSH_LATENCY.name {
                latency.entry(p.dimension("provider").to_owned()).or_default().extend(&p.samples);
            } else if name == names::AWS_CALL_LATENCY.name {
                aws.entry(call()).or_default().extend(&p.samples);
            } else if name == names::AWS_CALL_ERRORS.name {
                *r.aws_errors.entry(call()).or_default() += n;
            } else if name == names::THROTTLED_TIME.name {
                *r.throttled_us.entry(p.dimension("provider").to_owned()).or_default() += n;
            } else if names::find(name).is_some_and(|m| m.kind == names::Kind::Count) {
                if name == names::DEVICES_ATTEMPTED.name {
                    attempted += p.sum();
                } else if name == names::DEVICES_FAILED.name {
                    failed += p.sum();
                }
                let extra: Vec<&str> =
                    p.dimensions.iter().filter(|(k, _)| *k != names::FUNCTION).map(|(_, v)| v.as_str()).collect();
                let key = if extra.is_empty() { name.to_owned() } else { format!("{name} {}", extra.join("/")) };
                *r.counts.entry(key).or_default() += n;
            }
        }
        let all: u64 = r.answers.values().sum();
        let failed_answers: u64 = r.answers.iter().filter(|(k, _)| k.ends_with("/failed")).map(|(_, n)| n).sum();
        r.answer_failure_percent = percent(failed_answers as f64, all as f64);
        r.device_failure_percent = percent(failed, attempted);
        r.push_latency = latency.iter().map(|(k, s)| (k.clone(), percentiles(s))).collect();
        r.aws_latency = aws.iter().map(|(k, s)| (k.clone(), percentiles(s))).collect();
        r
    }
}
