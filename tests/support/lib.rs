//! Support for the integration tests: a whole local stack per test, started
//! with the same library code as `pushbatch local up` on free ports in a
//! temporary state directory, and stopped (as `pushbatch local down` does)
//! when dropped.

mod build;
mod ports;
mod stack;
mod wait;

pub use build::{ensure_workspace_bins, target_dir};
pub use ports::free_port_base;
pub use pushbatch::local::{Endpoint, Part, StatusReport};
pub use stack::{Stack, StackOptions};
pub use wait::eventually;
pub mod approval;
pub mod clock;
pub mod desk;
pub mod fault_proxy;
pub mod gateway;
pub mod iam;
pub mod inline;
pub mod rate;
pub mod reliability;
