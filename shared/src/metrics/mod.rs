//! Metrics in CloudWatch's Embedded Metric Format (EMF).
//!
//! Call sites use the typed functions below (never `metrics::counter!`
//! with a literal), so a name cannot be misspelled and every metric is in
//! [`names::ALL`], which the README and the dashboard test read.
//!
//! Why these crates: the `metrics` facade keeps the call sites free of any
//! exporter; AWS's metrique (`metrique-metricsrs` records, the
//! `metrique-writer-format-emf` formatter writes) aggregates distributions
//! into buckets and writes them as EMF's `Values`/`Counts`.
//! `metrics_cloudwatch_embedded`, the other EMF exporter for the facade,
//! keeps at most 100 raw values per histogram between flushes and logs an
//! error for each value past that: push latency is recorded hundreds of
//! thousands of times per link. Neither needs `lambda_runtime`: a flush is
//! a write to stdout, at the end of each invocation ([`invocation`]) and,
//! for send-batch, every minute ([`install`]'s `flush_every`).
//!
//! Dimensions are low-cardinality only (function, provider, outcome,
//! service and operation, campaign and variant of the code-defined
//! campaigns); a job id is a property of the document, never a dimension.

mod aws_calls;
mod events;
mod export;
pub mod names;
mod push;
mod quantize;
mod send;
#[cfg(test)]
mod tests;

pub use aws_calls::AwsCallTimer;
pub use events::{approval, campaigns, devices};
pub use export::{Exporter, Invocation, MetricsError, install, installed, invocation};
pub use push::{AnswerClass, Provider, answer, latency, throttled};
pub use quantize::{MAX_DISTINCT_MICROS, micros};
pub use send::{Link, link_started, oldest_checkpoint};
