//! Durations as the few distinct values an EMF distribution may hold.
//!
//! EMF allows 100 values per metric in a document. The recorder's buckets
//! are 16 per doubling, so a minute whose latencies span 20 ms to 10 s
//! would need about 140; rounding to 4 steps per doubling (within 9 %) and
//! clamping to 100 µs..60 s caps any flush at [`MAX_DISTINCT_MICROS`].

use std::time::Duration;

const FLOOR_MICROS: f64 = 100.0;
const CEILING_MICROS: f64 = 60_000_000.0;
const STEPS_PER_DOUBLING: f64 = 4.0;

/// The most distinct values [`micros`] can return.
pub const MAX_DISTINCT_MICROS: usize = 80;
const _: () = assert!(MAX_DISTINCT_MICROS <= 100, "EMF allows 100 values per metric");

/// `d` in microseconds, on a log scale of 4 steps per doubling.
pub fn micros(d: Duration) -> u32 {
    let us = (d.as_secs_f64() * 1e6).clamp(FLOOR_MICROS, CEILING_MICROS);
    let step = (us.log2() * STEPS_PER_DOUBLING).round();
    (step / STEPS_PER_DOUBLING).exp2().round() as u32
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_duration_maps_to_one_of_few_values_within_nine_percent() {
        let mut seen = BTreeSet::new();
        let mut us = 1u64;
        while us < 120_000_000 {
            let d = Duration::from_micros(us);
            let q = micros(d);
            seen.insert(q);
            if (200..=50_000_000).contains(&us) {
                let error = (q as f64 / us as f64 - 1.0).abs();
                assert!(error < 0.091, "{us} µs -> {q} ({error})");
            }
            us += us / 97 + 1;
        }
        assert!(seen.len() <= MAX_DISTINCT_MICROS, "{} distinct values", seen.len());
        // Clamped, then on the scale: the floor is 100 µs within a step.
        assert_eq!(micros(Duration::ZERO), micros(Duration::from_micros(100)));
        assert!((100..=110).contains(&micros(Duration::ZERO)));
        assert_eq!(micros(Duration::from_secs(3600)), micros(Duration::from_secs(60)));
    }
}
