//! Injected faults and latency. Randomness comes from a per-thread SmallRng so the
//! hot path never touches a shared generator.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use crate::knobs::Knobs;

static SEEDED: AtomicBool = AtomicBool::new(false);
static SEED: AtomicU64 = AtomicU64::new(0);
static NEXT_THREAD: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static RNG: RefCell<SmallRng> = RefCell::new(new_thread_rng());
}

/// With a seed, worker thread n draws from `seed + n`: runs are repeatable as far as
/// the scheduler's assignment of requests to threads is (exactly so on one worker).
pub fn init_seed(seed: Option<u64>) {
    if let Some(s) = seed {
        SEED.store(s, Relaxed);
        SEEDED.store(true, Relaxed);
    }
}

fn new_thread_rng() -> SmallRng {
    if SEEDED.load(Relaxed) {
        let n = NEXT_THREAD.fetch_add(1, Relaxed);
        SmallRng::seed_from_u64(SEED.load(Relaxed).wrapping_add(n))
    } else {
        SmallRng::seed_from_u64(rand::random())
    }
}

pub(crate) fn with_rng<T>(f: impl FnOnce(&mut SmallRng) -> T) -> T {
    RNG.with(|r| f(&mut r.borrow_mut()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Internal,
    Unavailable,
    TooManyRequests,
}

/// One uniform draw split into [rate-500 | rate-503 | rate-429 | none], so the rates
/// are exclusive shares of traffic (if they add up past 1.0 the earlier ones win).
pub fn roll_fault(knobs: &Knobs) -> Option<Fault> {
    let (r500, r503, r429) = (knobs.rate_500(), knobs.rate_503(), knobs.rate_429());
    if r500 <= 0.0 && r503 <= 0.0 && r429 <= 0.0 {
        return None;
    }
    let u: f64 = with_rng(|rng| rng.random());
    if u < r500 {
        Some(Fault::Internal)
    } else if u < r500 + r503 {
        Some(Fault::Unavailable)
    } else if u < r500 + r503 + r429 {
        Some(Fault::TooManyRequests)
    } else {
        None
    }
}

/// Fixed latency + uniform jitter in 0..=jitter + (with probability spike-rate) spike.
pub fn response_delay(knobs: &Knobs) -> Option<Duration> {
    let (fixed, jitter, spike, spike_rate) =
        (knobs.latency_ms(), knobs.jitter_ms(), knobs.spike_ms(), knobs.spike_rate());
    let needs_rng = jitter > 0 || (spike > 0 && spike_rate > 0.0);
    let extra = if needs_rng {
        with_rng(|rng| {
            let j = if jitter > 0 { rng.random_range(0..=jitter) } else { 0 };
            let s = if spike > 0 && rng.random::<f64>() < spike_rate { spike } else { 0 };
            j.saturating_add(s)
        })
    } else {
        0
    };
    let total = fixed.saturating_add(extra);
    (total > 0).then(|| Duration::from_millis(total))
}

/// Sleeps (asynchronously) for the configured response latency, if any.
pub async fn apply_latency(knobs: &Knobs) {
    if let Some(d) = response_delay(knobs) {
        tokio::time::sleep(d).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knobs::KnobPatch;

    fn knobs(patch: KnobPatch) -> Knobs {
        let k = Knobs::default();
        k.apply(&patch).expect("valid");
        k
    }

    #[test]
    fn no_rates_no_faults() {
        let k = Knobs::default();
        assert!((0..1000).all(|_| roll_fault(&k).is_none()));
        assert!(response_delay(&k).is_none());
    }

    #[test]
    fn full_rate_always_faults() {
        let k = knobs(KnobPatch { rate_429: Some(1.0), ..Default::default() });
        assert!((0..1000).all(|_| roll_fault(&k) == Some(Fault::TooManyRequests)));
        let k = knobs(KnobPatch { rate_500: Some(1.0), rate_503: Some(1.0), ..Default::default() });
        assert!((0..100).all(|_| roll_fault(&k) == Some(Fault::Internal)));
    }

    #[test]
    fn rates_are_roughly_honoured() {
        let k = knobs(KnobPatch { rate_503: Some(0.2), ..Default::default() });
        let n = (0..10_000).filter(|_| roll_fault(&k).is_some()).count();
        assert!((1_600..2_400).contains(&n), "{n}");
    }

    #[test]
    fn delay_is_fixed_plus_jitter_plus_spike() {
        let k = knobs(KnobPatch {
            latency_ms: Some(10),
            jitter_ms: Some(5),
            spike_ms: Some(100),
            spike_rate: Some(1.0),
            ..Default::default()
        });
        for _ in 0..200 {
            let d = response_delay(&k).expect("delay").as_millis();
            assert!((110..=115).contains(&d), "{d}");
        }
        let k = knobs(KnobPatch { latency_ms: Some(3), ..Default::default() });
        assert_eq!(response_delay(&k), Some(Duration::from_millis(3)));
    }
}
