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

/// Now as a file says: an RFC 3339 instant, read at every call, so a test
/// moves time by writing the file (the functions read the same file as
/// `PUSHBATCH_CLOCK_FILE`). A missing or unreadable file is the system's
/// time, with a warning.
#[derive(Debug)]
pub struct FileClock {
    path: std::path::PathBuf,
}

impl FileClock {
    pub fn new(path: impl Into<std::path::PathBuf>) -> Self {
        Self { path: path.into() }
    }

    fn read(&self) -> Result<SystemTime, String> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| e.to_string())?;
        let at = chrono::DateTime::parse_from_rfc3339(text.trim()).map_err(|e| format!("{:?}: {e}", text.trim()))?;
        let ms = u64::try_from(at.timestamp_millis()).map_err(|_| "before 1970".to_owned())?;
        Ok(UNIX_EPOCH + Duration::from_millis(ms))
    }
}

impl Clock for FileClock {
    fn now(&self) -> SystemTime {
        self.read().unwrap_or_else(|problem| {
            tracing::warn!(path = %self.path.display(), %problem, "clock file unreadable: using the system clock");
            SystemTime::now()
        })
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

    #[test]
    fn a_file_clock_reads_its_file_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock");
        std::fs::write(&path, "2026-12-01T08:00:00Z\n").unwrap();
        let clock = FileClock::new(&path);
        assert_eq!(clock.epoch_seconds(), 1_796_112_000);
        std::fs::write(&path, "2026-12-01T09:00:00+00:00").unwrap();
        assert_eq!(clock.epoch_seconds(), 1_796_115_600);
    }
}
