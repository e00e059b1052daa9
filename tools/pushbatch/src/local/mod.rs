//! The local stack: emulators and our own tools as detached processes on
//! consecutive loopback ports, plus the bucket and tables the functions use.
//!
//! `up`, `down` and `status` are library functions so that the integration
//! tests' harness runs exactly what `pushbatch local …` runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use shared::schema::DEFAULT_LOCAL_BUCKET;

use crate::env_file::{EnvFileError, EnvMap};

pub mod cli;
mod down;
pub mod health;
pub mod launch;
pub mod parts;
pub mod process;
pub mod provision;
pub mod stack_env;
mod status;
mod up;

pub use down::down;
pub use parts::{Endpoint, Part, Ports, StateDir};
pub use status::{EndpointStatus, StatusReport, status};
pub use up::{UpReport, up};

/// The only region the local stack uses.
pub const REGION: &str = "us-east-1";

/// Everything `up` needs to know. Built by the CLI from flags and by the
/// test harness directly.
#[derive(Debug, Clone)]
pub struct StackConfig {
    /// Repository root: cwd of `cargo lambda watch`, home of `.local/` and
    /// `local/`.
    pub root: PathBuf,
    pub state_dir: PathBuf,
    pub port_base: u16,
    pub bucket: String,
    /// Which parts to run (all by default); bucket and tables are only
    /// provisioned when moto / dynalite are among them.
    pub parts: Vec<Part>,
    /// Extra variables for the functions, written last into stack.env.
    pub fn_env: EnvMap,
    /// Pass `--ignore-changes` to `cargo lambda watch` (no rebuild on edit).
    pub ignore_changes: bool,
    /// CARGO_TARGET_DIR for `cargo lambda watch`'s builds.
    pub cargo_target_dir: Option<PathBuf>,
    /// Where push-sandbox and event-plane are [default: next to the running
    /// executable].
    pub bin_dir: Option<PathBuf>,
    /// Extra command-line arguments per part (e.g. the plane's retry delays).
    pub extra_args: BTreeMap<Part, Vec<String>>,
    /// Show a spinner on stderr while waiting (hidden when not a terminal).
    pub progress: bool,
}

/// The cargo target directory the stack builds in: `CARGO_TARGET_DIR`, else
/// the one `scripts/test` and `scripts/demo` use, so that `pushbatch local up`
/// by hand reuses their build instead of compiling every function from cold.
pub fn default_target_dir() -> Option<PathBuf> {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/pushbatch-target")))
}

impl StackConfig {
    pub fn new(root: impl Into<PathBuf>, state_dir: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            state_dir: state_dir.into(),
            port_base: Ports::DEFAULT_BASE,
            bucket: DEFAULT_LOCAL_BUCKET.to_string(),
            parts: Part::ALL.to_vec(),
            fn_env: EnvMap::new(),
            ignore_changes: false,
            cargo_target_dir: default_target_dir(),
            bin_dir: None,
            extra_args: BTreeMap::new(),
            progress: false,
        }
    }

    pub fn includes(&self, part: Part) -> bool {
        self.parts.contains(&part)
    }

    pub fn ports(&self) -> Ports {
        Ports::new(self.port_base)
    }
}

/// `<state>/stack.json`: what `up` started, so `status` needs no flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackRecord {
    pub port_base: u16,
    pub parts: Vec<String>,
    pub root: PathBuf,
}

impl StackRecord {
    pub fn read(state_dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(StateDir::new(state_dir).stack_json()).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn parts(&self) -> Vec<Part> {
        self.parts.iter().filter_map(|p| Part::from_name(p)).collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{part}: {path} not found; {hint}")]
    MissingProgram { part: Part, path: PathBuf, hint: String },
    #[error("{part} exited during startup ({status}); see {log}{tail}", tail = indent_tail(tail))]
    Exited { part: Part, status: String, log: PathBuf, tail: String },
    #[error(
        "{part} not healthy after {secs}s ({reason}); see {log}{tail}",
        tail = indent_tail(tail)
    )]
    NotHealthy { part: Part, secs: u64, reason: String, log: PathBuf, tail: String },
    #[error("provisioning {what}: {message}")]
    Provision { what: String, message: String },
    #[error(transparent)]
    EnvFile(#[from] EnvFileError),
    #[error(transparent)]
    Context(#[from] crate::context::ContextError),
}

fn indent_tail(tail: &str) -> String {
    if tail.trim().is_empty() {
        return String::new();
    }
    let mut out = String::from("\n  last log lines:");
    for line in tail.lines() {
        out.push_str("\n    ");
        out.push_str(line);
    }
    out
}
