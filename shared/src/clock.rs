//! Wall-clock time as the records store it: milliseconds since the epoch.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in epoch milliseconds. A clock set before 1970 reads as 0: no
/// record written by this code can predate the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Now, in epoch seconds (APNs expiry, JWT `iat`).
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The variable that points the calendar at a file, for tests.
pub const CLOCK_FILE_ENV: &str = "PUSHBATCH_CLOCK_FILE";

/// Why the calendar could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error("reading the clock file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the clock file {path} must hold an RFC 3339 time, not {text:?}")]
    Parse { path: String, text: String },
}

/// The calendar: what time it is for the people the pushes are for (their
/// local day, their quiet hours, 09:00 in their zone, a `send_at`). It is
/// the system clock, unless `PUSHBATCH_CLOCK_FILE` names a file holding an
/// RFC 3339 time: then that file, read at every call, so that a test can
/// move time forward instead of sleeping (the event plane's scheduler reads
/// the same file). Leases, budgets and checkpoints always use the system
/// clock: they measure this process, not the users' day.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CalendarClock {
    #[default]
    System,
    File(std::path::PathBuf),
}

impl CalendarClock {
    /// `PUSHBATCH_CLOCK_FILE` when it is set, else the system clock.
    pub fn from_env() -> Self {
        match std::env::var(CLOCK_FILE_ENV) {
            Ok(path) if !path.is_empty() => CalendarClock::File(path.into()),
            _ => CalendarClock::System,
        }
    }

    pub fn now_ms(&self) -> Result<i64, ClockError> {
        match self {
            CalendarClock::System => Ok(now_ms()),
            CalendarClock::File(path) => read_clock_file(&path.to_string_lossy()),
        }
    }
}

pub fn read_clock_file(path: &str) -> Result<i64, ClockError> {
    let text = std::fs::read_to_string(path).map_err(|source| ClockError::Read { path: path.into(), source })?;
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|_| ClockError::Parse { path: path.into(), text: text.trim().into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_file_is_read_and_a_bad_one_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clock");
        std::fs::write(&file, "2026-12-01T08:59:30Z\n").unwrap();
        assert_eq!(read_clock_file(file.to_str().unwrap()).unwrap(), 1_796_115_570_000);
        std::fs::write(&file, "tomorrow").unwrap();
        assert!(read_clock_file(file.to_str().unwrap()).unwrap_err().to_string().contains("RFC 3339"));
    }
}
