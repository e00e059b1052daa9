//! Knobs that can change while the sandbox runs (`GET/POST /config`). Stored as
//! atomics so every request can read them without a lock.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

use crate::args::{Args, check_probability};
use crate::error::SandboxError;

/// An f64 in an AtomicU64 (bit pattern); relaxed is enough, knobs are independent.
#[derive(Debug, Default)]
struct AtomicF64(AtomicU64);

impl AtomicF64 {
    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Relaxed))
    }
    fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Relaxed)
    }
}

#[derive(Debug, Default)]
pub struct Knobs {
    latency_ms: AtomicU64,
    jitter_ms: AtomicU64,
    spike_ms: AtomicU64,
    spike_rate: AtomicF64,
    rate_500: AtomicF64,
    rate_503: AtomicF64,
    rate_429: AtomicF64,
    retry_after_secs: AtomicU64,
    goaway_after: AtomicU64,
    dead_fraction: AtomicF64,
    track_tokens: AtomicBool,
}

/// The JSON of `GET /config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KnobValues {
    pub latency_ms: u64,
    pub jitter_ms: u64,
    pub spike_ms: u64,
    pub spike_rate: f64,
    pub rate_500: f64,
    pub rate_503: f64,
    pub rate_429: f64,
    pub retry_after_secs: u64,
    pub goaway_after: u64,
    pub dead_fraction: f64,
    pub track_tokens: bool,
}

/// The JSON of `POST /config`: any subset of the knobs. Unknown names are refused so a
/// typo in a test does not silently leave a fault switched on.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnobPatch {
    pub latency_ms: Option<u64>,
    pub jitter_ms: Option<u64>,
    pub spike_ms: Option<u64>,
    pub spike_rate: Option<f64>,
    pub rate_500: Option<f64>,
    pub rate_503: Option<f64>,
    pub rate_429: Option<f64>,
    pub retry_after_secs: Option<u64>,
    pub goaway_after: Option<u64>,
    pub dead_fraction: Option<f64>,
    pub track_tokens: Option<bool>,
}

impl Knobs {
    pub fn from_args(args: &Args) -> Self {
        let k = Self::default();
        k.set(&KnobValues {
            latency_ms: args.latency_ms,
            jitter_ms: args.jitter_ms,
            spike_ms: args.spike_ms,
            spike_rate: args.spike_rate,
            rate_500: args.rate_500,
            rate_503: args.rate_503,
            rate_429: args.rate_429,
            retry_after_secs: args.retry_after_secs,
            goaway_after: args.goaway_after,
            dead_fraction: args.dead_fraction,
            track_tokens: args.track_tokens,
        });
        k
    }

    fn set(&self, v: &KnobValues) {
        self.latency_ms.store(v.latency_ms, Relaxed);
        self.jitter_ms.store(v.jitter_ms, Relaxed);
        self.spike_ms.store(v.spike_ms, Relaxed);
        self.spike_rate.set(v.spike_rate);
        self.rate_500.set(v.rate_500);
        self.rate_503.set(v.rate_503);
        self.rate_429.set(v.rate_429);
        self.retry_after_secs.store(v.retry_after_secs, Relaxed);
        self.goaway_after.store(v.goaway_after, Relaxed);
        self.dead_fraction.set(v.dead_fraction);
        self.track_tokens.store(v.track_tokens, Relaxed);
    }

    pub fn values(&self) -> KnobValues {
        KnobValues {
            latency_ms: self.latency_ms(),
            jitter_ms: self.jitter_ms(),
            spike_ms: self.spike_ms(),
            spike_rate: self.spike_rate(),
            rate_500: self.rate_500(),
            rate_503: self.rate_503(),
            rate_429: self.rate_429(),
            retry_after_secs: self.retry_after_secs(),
            goaway_after: self.goaway_after(),
            dead_fraction: self.dead_fraction(),
            track_tokens: self.track_tokens(),
        }
    }

    /// Validates the whole patch first, so a bad value changes nothing.
    pub fn apply(&self, patch: &KnobPatch) -> Result<KnobValues, SandboxError> {
        let mut v = self.values();
        macro_rules! take {
            ($($field:ident),*) => { $( if let Some(x) = patch.$field { v.$field = x; } )* };
        }
        take!(
            latency_ms,
            jitter_ms,
            spike_ms,
            spike_rate,
            rate_500,
            rate_503,
            rate_429,
            retry_after_secs,
            goaway_after,
            dead_fraction,
            track_tokens
        );
        check_probability("spike_rate", v.spike_rate)?;
        check_probability("rate_500", v.rate_500)?;
        check_probability("rate_503", v.rate_503)?;
        check_probability("rate_429", v.rate_429)?;
        check_probability("dead_fraction", v.dead_fraction)?;
        self.set(&v);
        Ok(v)
    }

    pub fn latency_ms(&self) -> u64 {
        self.latency_ms.load(Relaxed)
    }
    pub fn jitter_ms(&self) -> u64 {
        self.jitter_ms.load(Relaxed)
    }
    pub fn spike_ms(&self) -> u64 {
        self.spike_ms.load(Relaxed)
    }
    pub fn spike_rate(&self) -> f64 {
        self.spike_rate.get()
    }
    pub fn rate_500(&self) -> f64 {
        self.rate_500.get()
    }
    pub fn rate_503(&self) -> f64 {
        self.rate_503.get()
    }
    pub fn rate_429(&self) -> f64 {
        self.rate_429.get()
    }
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after_secs.load(Relaxed)
    }
    pub fn goaway_after(&self) -> u64 {
        self.goaway_after.load(Relaxed)
    }
    pub fn dead_fraction(&self) -> f64 {
        self.dead_fraction.get()
    }
    pub fn track_tokens(&self) -> bool {
        self.track_tokens.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_changes_only_named_knobs() {
        let k = Knobs::default();
        let v = k
            .apply(&KnobPatch { rate_429: Some(1.0), latency_ms: Some(5), ..Default::default() })
            .expect("valid patch");
        assert_eq!(v.rate_429, 1.0);
        assert_eq!(v.latency_ms, 5);
        assert_eq!(v.rate_500, 0.0);
        assert_eq!(k.values(), v);
    }

    #[test]
    fn bad_patch_changes_nothing() {
        let k = Knobs::default();
        let before = k.values();
        let err = k.apply(&KnobPatch { latency_ms: Some(7), rate_503: Some(2.0), ..Default::default() });
        assert!(err.is_err());
        assert_eq!(k.values(), before);
    }

    #[test]
    fn unknown_knob_is_refused() {
        let r: Result<KnobPatch, _> = serde_json::from_str(r#"{"rate_42":1.0}"#);
        assert!(r.is_err());
    }
}
