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
