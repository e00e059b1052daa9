//! The reliability scenarios of issue #8 (crashes, duplicates, provider and
//! AWS-side faults), each on its own local stack, sized by the caller:
//! `tests/reliability.rs` runs CI-sized versions, `tests/soak.rs` longer ones.
//!
//! Every scenario takes a seed (printed, and `RELIABILITY_SEED` repeats it)
//! and returns a [`Row`] for RELIABILITY.md.

pub mod aws;
pub mod bench;
pub mod crash;
pub mod duplicates;
pub mod population;
pub mod provider;

use std::fmt;

pub use bench::Bench;

/// send-batch's default `PIPELINE_BATCHES`: the batches a link keeps open
/// at once, and so the most a crash or a failed invocation resends.
pub const PIPELINE_BATCHES: u64 = 6;
pub use population::{CATEGORY, Expected, Population, Tally};

/// The scenario's seed: `RELIABILITY_SEED` when set, else random; printed
/// either way so a failure can be repeated.
pub fn seed(scenario: &str) -> u64 {
    let seed = std::env::var("RELIABILITY_SEED").ok().and_then(|s| s.trim().parse().ok()).unwrap_or_else(rand::random);
    println!("{scenario}: seed {seed} (RELIABILITY_SEED={seed} repeats it)");
    seed
}

/// One line of RELIABILITY.md's table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    pub scenario: String,
    pub runs: u64,
    pub result: String,
    /// Live devices neither delivered nor listed in failed.jsonl.
    pub lost: u64,
    /// Devices delivered more than once.
    pub duplicated: u64,
    /// The widest run of users holding duplicates within one batch.
    pub largest_window_users: u64,
    pub notes: String,
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "| {} | {} | {} | {} | {} | {} | {} |",
            self.scenario, self.runs, self.result, self.lost, self.duplicated, self.largest_window_users, self.notes
        )
    }
}

/// Prints a finished scenario's row where `cargo test -- --nocapture` shows it.
pub fn report(row: &Row) {
    println!("RELIABILITY {row}");
}
