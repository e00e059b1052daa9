//! `pushbatch metrics` as text: the dashboard's numbers in tables, and sends
//! per minute as a bar chart, since a shape is quicker to read than a column.

use chrono::{DateTime, Utc};

use super::report::{Percentiles, Report};
use crate::table;

const BAR_WIDTH: usize = 40;
const CHART_MINUTES: usize = 30;

fn fmt_percent(p: Option<f64>) -> String {
    p.map_or_else(|| "n/a".to_string(), |p| format!("{p:.2} %"))
}

fn ms(us: f64) -> String {
    format!("{:.2} ms", us / 1000.0)
}

fn latency_rows(latency: &std::collections::BTreeMap<String, Percentiles>) -> Vec<Vec<String>> {
    latency.iter().map(|(k, p)| vec![k.clone(), p.count.to_string(), ms(p.p50), ms(p.p99)]).collect()
}

fn minute(m: u64) -> String {
    DateTime::<Utc>::from_timestamp((m * 60) as i64, 0).map_or_else(|| m.to_string(), |t| t.format("%H:%M").to_string())
}

/// Sends per minute, one bar per minute (the last 30), scaled to the
/// busiest; minutes without sends between two with sends show empty.
pub fn chart(per_minute: &std::collections::BTreeMap<u64, u64>) -> String {
    let (Some(&first), Some(&last)) = (per_minute.keys().next(), per_minute.keys().next_back()) else {
        return String::new();
    };
    let first = first.max(last.saturating_sub(CHART_MINUTES as u64 - 1));
    let peak = per_minute.range(first..=last).map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let mut out = String::new();
    for m in first..=last {
        let n = per_minute.get(&m).copied().unwrap_or(0);
        let filled = ((n as f64 / peak as f64) * BAR_WIDTH as f64).round() as usize;
        let bar = if n > 0 { "█".repeat(filled.max(1)) } else { String::new() };
        out.push_str(&format!("{} UTC │{bar:<BAR_WIDTH$}│ {n}\n", minute(m)));
    }
    out
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    if r.answers.is_empty() && r.counts.is_empty() && r.aws_latency.is_empty() {
        return "no metrics collected yet: run something on the local stack (pushbatch demo, pushbatch send)\n"
            .to_string();
    }
    if !r.answers.is_empty() {
        let minutes = r.answers_per_minute.len().max(1) as u64;
        let rows: Vec<Vec<String>> = r
            .answers
            .iter()
            .map(|(k, n)| {
                let (provider, outcome) = k.split_once('/').unwrap_or((k, ""));
                vec![provider.to_string(), outcome.to_string(), n.to_string(), (n / minutes).to_string()]
            })
            .collect();
        out.push_str("Sends (provider answers)\n");
        out.push_str(&table::render(&["provider", "outcome", "total", "per minute"], &rows));
        out.push('\n');
        out.push_str("Sends per minute\n");
        out.push_str(&chart(&r.answers_per_minute));
        out.push('\n');
    }
    out.push_str(&format!(
        "Failure rate: devices {} (failed / attempted), answers {} (failed / all)\n\n",
        fmt_percent(r.device_failure_percent),
        fmt_percent(r.answer_failure_percent)
    ));
    if !r.push_latency.is_empty() {
        let mut rows = latency_rows(&r.push_latency);
        for row in &mut rows {
            row.push(ms(r.throttled_us.get(&row[0]).copied().unwrap_or(0) as f64));
        }
        out.push_str("Provider latency\n");
        out.push_str(&table::render(&["provider", "requests", "p50", "p99", "waited for rate limits"], &rows));
        out.push('\n');
    }
    if !r.aws_latency.is_empty() {
        let mut rows = latency_rows(&r.aws_latency);
        for row in &mut rows {
            row.push(r.aws_errors.get(&row[0]).copied().unwrap_or(0).to_string());
        }
        out.push_str("DynamoDB and S3 calls\n");
        out.push_str(&table::render(&["call", "calls", "p50", "p99", "errors"], &rows));
        out.push('\n');
    }
    if !r.counts.is_empty() {
        let rows: Vec<Vec<String>> = r.counts.iter().map(|(k, n)| vec![k.clone(), n.to_string()]).collect();
        out.push_str("Events (approvals, registrations, campaigns, send-batch)\n");
        out.push_str(&table::render(&["metric", "total"], &rows));
    }
    out
}
