//! `local down`: stop every part recorded in the state directory.

use std::path::Path;
use std::time::Duration;

use super::LocalError;
use super::launch::marker;
use super::parts::{Part, StateDir};
use super::process::{StopOutcome, StopTarget, stop_all};

/// How long parts get to exit on SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// Stops every part that has a pid file under `state_dir` (newest first in
/// start order, all signalled together) and removes the pid files.
/// Idempotent: parts that are not running are reported as such.
pub fn down(state_dir: &Path) -> Result<Vec<(Part, StopOutcome)>, LocalError> {
    let state = StateDir::new(state_dir);
    let parts: Vec<Part> = Part::ALL.into_iter().rev().collect();
    let targets: Vec<StopTarget> = parts
        .iter()
        .map(|&part| StopTarget { pid_file: state.pid_file(part), marker: marker(part).to_string() })
        .collect();
    let outcomes = stop_all(&targets, GRACE)?;
    Ok(parts.into_iter().zip(outcomes).collect())
}
