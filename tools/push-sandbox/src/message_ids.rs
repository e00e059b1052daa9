//! FCM message ids, held by `App` so every connection draws from one sequence.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Message ids: a random base plus a counter, unique without coordination.
pub struct MessageIds(AtomicU64);

impl Default for MessageIds {
    fn default() -> Self {
        Self(AtomicU64::new(rand::random::<u64>() >> 12))
    }
}

impl MessageIds {
    pub(crate) fn next(&self) -> u64 {
        self.0.fetch_add(1, Relaxed)
    }
}
