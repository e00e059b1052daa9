//! Turning what the `metrics` facade recorded into CloudWatch EMF lines on
//! stdout, which Lambda's log pipeline turns into metrics.
//!
//! The recorder and the formatter are AWS's (metrique): the recorder keeps
//! counters and, for distributions, log-spaced buckets, and the formatter
//! writes a bucketed distribution as EMF's `{"Values": [...], "Counts":
//! [...]}`, so a link that made a million requests still reports every
//! one of them in one small document. What is written here is only what
//! they leave to the application: the `function` dimension, properties
//! (a job id: never a dimension), levels read at flush time, and when to
//! flush.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use metrique_metricsrs::{MetricAccumulatorEntry, MetricRecorder};
use metrique_writer_core::format::Format;
use metrique_writer_core::unit::NegativeScale;
use metrique_writer_core::{Entry, EntryWriter, MetricFlags, Observation, Unit, Value, ValueWriter};
use metrique_writer_format_emf::Emf;

use super::names::{ALL, FUNCTION, Kind, NAMESPACE, SECONDS_SINCE_CHECKPOINT};

type Recorder = MetricRecorder<dyn metrics::Recorder>;

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("a metrics recorder is already installed in this process")]
    AlreadyInstalled,
    #[error("cannot format the EMF document")]
    Format(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot write the EMF document")]
    Write(#[source] std::io::Error),
}

/// What is read at flush time rather than recorded as it happens.
#[derive(Debug, Default, Clone)]
struct Live {
    /// Target members that are not dimensions (the job id).
    properties: BTreeMap<&'static str, String>,
    /// Set while a chain link runs: its last checkpoint (or start).
    last_checkpoint: Option<Instant>,
}

/// The process's exporter: the recorder behind the facade plus what a flush
/// adds to it.
pub struct Exporter {
    recorder: Recorder,
    function: String,
    emf: Mutex<Emf>,
    live: Mutex<Live>,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Exporter {
    /// An exporter that is not the global recorder: for tests, with
    /// `metrics::with_local_recorder(exporter.recorder(), ..)`.
    pub fn new(function: impl Into<String>) -> Self {
        let recorder = Recorder::new();
        metrics::with_local_recorder(&recorder, describe);
        Self {
            recorder,
            function: function.into(),
            emf: Mutex::new(Emf::builder(NAMESPACE.to_string(), vec![vec![FUNCTION.to_string()]]).build()),
            live: Mutex::new(Live::default()),
        }
    }

    pub fn recorder(&self) -> &(dyn metrics::Recorder + 'static) {
        &self.recorder
    }

    pub fn function(&self) -> &str {
        &self.function
    }

    pub(crate) fn set_property(&self, name: &'static str, value: impl Into<String>) {
        lock(&self.live).properties.insert(name, value.into());
    }

    pub(crate) fn clear_property(&self, name: &'static str) {
        lock(&self.live).properties.remove(name);
    }

    pub(crate) fn set_checkpoint(&self, at: Option<Instant>) {
        lock(&self.live).last_checkpoint = at;
    }

    /// Writes everything recorded since the last flush, one EMF document
    /// (one line) per dimension set, in one write.
    pub fn flush_to(&self, out: &mut impl Write, now: Instant) -> Result<(), MetricsError> {
        let live = lock(&self.live).clone();
        let entry = Flush {
            readout: self.recorder.readout(),
            function: &self.function,
            properties: &live.properties,
            since_checkpoint: live.last_checkpoint.map(|t| now.saturating_duration_since(t)),
        };
        let mut text = Vec::new();
        lock(&self.emf).format(&entry, &mut text).map_err(|e| MetricsError::Format(Box::new(e)))?;
        let lines = without_empty_documents(&text);
        if lines.is_empty() {
            return Ok(());
        }
        out.write_all(&lines).and_then(|()| out.flush()).map_err(MetricsError::Write)
    }

    /// [`Self::flush_to`] stdout; a failure is logged, never raised: losing
    /// one flush of metrics must not fail an invocation.
    pub fn flush(&self) {
        if let Err(e) = self.flush_to(&mut std::io::stdout().lock(), Instant::now()) {
            tracing::warn!(error = %crate::errors::Chain(&e), "metrics were not written");
        }
    }
}

/// The formatter writes a document for the default dimension set even when
/// nothing was recorded; an empty `Metrics` list would only be noise.
fn without_empty_documents(text: &[u8]) -> Vec<u8> {
    const EMPTY: &[u8] = br#""Metrics":[]"#;
    let mut out = Vec::with_capacity(text.len());
    for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        if !line.windows(EMPTY.len()).any(|w| w == EMPTY) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
    }
    out
}

/// Declares every metric's unit, so documents carry it.
fn describe() {
    for m in ALL {
        let unit = match m.unit {
            "Microseconds" => metrics::Unit::Microseconds,
            "Milliseconds" => metrics::Unit::Milliseconds,
            "Seconds" => metrics::Unit::Seconds,
            "Count/Second" => metrics::Unit::CountPerSecond,
            _ => metrics::Unit::Count,
        };
        match m.kind {
            Kind::Count => metrics::describe_counter!(m.name, unit, m.meaning),
            Kind::Distribution => metrics::describe_histogram!(m.name, unit, m.meaning),
            Kind::Level => metrics::describe_gauge!(m.name, unit, m.meaning),
        }
    }
}

/// Installs the exporter as the process's recorder. `function` names the
/// function when `AWS_LAMBDA_FUNCTION_NAME` is unset (tests, tools); in
/// Lambda the deployed name is used, so two stacks in one account never mix
/// their metrics. With `flush_every`, a task also flushes on that period, so
/// a 15-minute invocation's sends show in the minutes they happened in and
/// `SecondsSinceCheckpoint` is read while a link runs.
/// `METRICS_FLUSH_SECONDS` overrides the period (the local stack's tests
/// shorten it; a bad value is ignored with a warning, the default stands).
pub fn install(function: &str, flush_every: Option<Duration>) -> Result<&'static Exporter, MetricsError> {
    let flush_every = match std::env::var("METRICS_FLUSH_SECONDS") {
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(secs) if secs > 0.0 && secs.is_finite() => Some(Duration::from_secs_f64(secs)),
            _ => {
                tracing::warn!(value = %v, "METRICS_FLUSH_SECONDS is not a positive number of seconds; ignored");
                flush_every
            }
        },
        Err(_) => flush_every,
    };
    let name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok().filter(|n| !n.is_empty());
    let exporter = Exporter::new(name.unwrap_or_else(|| function.to_string()));
    if EXPORTER.set(exporter).is_err() {
        return Err(MetricsError::AlreadyInstalled);
    }
    let exporter = EXPORTER.get().ok_or(MetricsError::AlreadyInstalled)?;
    metrics::set_global_recorder(exporter.recorder.clone()).map_err(|_| MetricsError::AlreadyInstalled)?;
    if let Some(period) = flush_every {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                exporter.flush();
            }
        });
    }
    Ok(exporter)
}

/// The installed exporter, if any (tools and tests run without one: the
/// facade then records nothing).
pub fn installed() -> Option<&'static Exporter> {
    EXPORTER.get()
}

/// Flushes when dropped: hold one for the length of an invocation.
#[must_use = "the flush happens when the guard is dropped"]
pub struct Invocation(());

/// Start of an invocation; its metrics are written when the guard drops.
pub fn invocation() -> Invocation {
    Invocation(())
}

impl Drop for Invocation {
    fn drop(&mut self) {
        if let Some(exporter) = installed() {
            exporter.flush();
        }
    }
}

/// One flush: the recorder's readout plus what the application adds.
struct Flush<'a> {
    readout: MetricAccumulatorEntry<dyn metrics::Recorder>,
    function: &'a str,
    properties: &'a BTreeMap<&'static str, String>,
    since_checkpoint: Option<Duration>,
}

impl Entry for Flush<'_> {
    fn write<'a>(&'a self, writer: &mut impl EntryWriter<'a>) {
        self.readout.write(writer);
        writer.value(FUNCTION, self.function);
        for (name, value) in self.properties {
            writer.value(*name, value.as_str());
        }
        if let Some(age) = self.since_checkpoint {
            writer.value(SECONDS_SINCE_CHECKPOINT.name, &Seconds(age));
        }
    }
}

struct Seconds(Duration);

impl Value for Seconds {
    fn write(&self, writer: impl ValueWriter) {
        writer.metric(
            [Observation::Floating(self.0.as_secs_f64())],
            Unit::Second(NegativeScale::One),
            [],
            MetricFlags::empty(),
        );
    }
}
