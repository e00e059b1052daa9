//! The gateway's and the issuer's notion of now. Token lifetimes and
//! signature ages are checked against it, so tests move it instead of
//! waiting an hour for a token to expire.

use std::fmt::Debug;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub trait Clock: Send + Sync + Debug {
    fn now(&self) -> SystemTime;

    /// Seconds since the epoch, as JWT claims count time.
    fn epoch_seconds(&self) -> u64 {
        self.now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<SystemTime>,
}

impl ManualClock {
    pub fn new(start: SystemTime) -> Self {
        Self { now: Mutex::new(start) }
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_000));
        assert_eq!(clock.epoch_seconds(), 1_000);
        clock.advance(Duration::from_secs(3_601));
        assert_eq!(clock.epoch_seconds(), 4_601);
    }
}
