//! A send's rate as the sandbox saw it: its delivered count sampled while
//! a job runs, and the users per second over the steady part of the run.

use std::time::{Duration, Instant};

use crate::Stack;
use crate::inline::delivered;

/// The sandbox's delivered count over time: (seconds since the first
/// sample, count), each taken halfway between asking and the answer.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    pub at: Vec<(f64, u64)>,
}

impl Samples {
    /// Samples every 100 ms until `total` deliveries, or fails after
    /// `timeout` saying how far it got.
    pub async fn until(stack: &Stack, total: u64, timeout: Duration) -> anyhow::Result<Samples> {
        let start = Instant::now();
        let mut samples = Samples::default();
        loop {
            let asked = start.elapsed().as_secs_f64();
            let count = delivered(stack).await?;
            let answered = start.elapsed().as_secs_f64();
            samples.at.push(((asked + answered) / 2.0, count));
            if count >= total {
                return Ok(samples);
            }
            anyhow::ensure!(start.elapsed() < timeout, "{count} of {total} delivered after {timeout:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Deliveries per second between the samples at `from` and `to` of the
    /// final count (e.g. 0.2 and 0.9: past the start's burst, before the
    /// last batches end): the least-squares slope, so that batches landing
    /// 500 at a time weigh as the line they follow, not as steps at its
    /// ends. None with fewer than 10 samples in the window.
    pub fn steady_rate(&self, from: f64, to: f64) -> Option<f64> {
        let last = self.at.last()?.1 as f64;
        let window: Vec<(f64, f64)> =
            self.at.iter().map(|&(t, n)| (t, n as f64)).filter(|&(_, n)| n >= from * last && n <= to * last).collect();
        if window.len() < 10 {
            return None;
        }
        let len = window.len() as f64;
        let (mean_t, mean_n) = window.iter().fold((0.0, 0.0), |(a, b), (t, n)| (a + t / len, b + n / len));
        let cov: f64 = window.iter().map(|(t, n)| (t - mean_t) * (n - mean_n)).sum();
        let var: f64 = window.iter().map(|(t, _)| (t - mean_t).powi(2)).sum();
        (var > 0.0).then(|| cov / var)
    }

    /// Seconds between the first and last sample in the window, for reports.
    pub fn span(&self, from: f64, to: f64) -> f64 {
        let last = self.at.last().map_or(0.0, |s| s.1 as f64);
        let times: Vec<f64> =
            self.at.iter().filter(|(_, n)| *n as f64 >= from * last && *n as f64 <= to * last).map(|s| s.0).collect();
        match (times.first(), times.last()) {
            (Some(a), Some(b)) => b - a,
            _ => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slope_of_steps_is_their_rate() {
        // 500 every 0.5 s (1,000/s), sampled every 0.1 s, after a burst of 2,000.
        let at = (0..200).map(|i| (i as f64 * 0.1, 2_000 + 500 * (i / 5) as u64)).collect();
        let rate = Samples { at }.steady_rate(0.2, 0.9).unwrap();
        assert!((rate - 1_000.0).abs() < 30.0, "{rate}");
        assert_eq!(Samples::default().steady_rate(0.2, 0.9), None);
    }
}
