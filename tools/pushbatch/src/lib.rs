//! The `pushbatch` command line as a library: each command group is a
//! module with its clap arguments and a `run` function, so the binary stays
//! a thin dispatcher and tests call the same code.
//!
//! - [`local`]: the local stack (`local up|down|status`), also used by the
//!   integration tests' harness.
//! - [`seed`]: synthetic users in the devices and users tables.
//! - [`campaign`]: `campaign report`, the A/B results of a scheduled campaign.
//! - [`jobs`]: `send` (upload and follow) and `status`; [`validate`]: offline
//!   checks of a batch file; [`demo`]: the main job on the local stack.
//! - [`metrics`]: the dashboard's numbers from the local stack's EMF lines.
//! - [`context`] and [`env_file`]: repository root, state directory and the
//!   layered environment every command reads.

pub mod aws_clients;
pub mod campaign;
pub mod context;
pub mod controls;
pub mod cpu;
pub mod demo;
pub mod env_file;
pub mod jobs;
pub mod local;
pub mod metrics;
pub mod progress;
pub mod rss;
pub mod seed;
pub mod shard_progress;
pub mod table;
pub mod validate;
pub mod waiting;
pub mod why;
