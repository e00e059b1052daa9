//! event-plane: what AWS does between services and the local emulators do not.
//!
//! - an S3 reverse proxy that emits ObjectCreated events to Lambda functions;
//! - a Lambda Invoke endpoint that gives `Event` invocations real asynchronous
//!   semantics (queue, concurrency limit, retries, dead-letter file).
//!
//! See README.md next to Cargo.toml for the interfaces.

pub mod cli;
pub mod dead_letter;
pub mod delivery;
pub mod function_name;
pub mod http;
pub mod lambda_api;
pub mod plane;
pub mod queue;
pub mod routes;
pub mod s3_event;
pub mod s3_head;
pub mod s3_notify;
pub mod s3_proxy;
pub mod s3_request;
pub mod server;
pub mod stats;

pub use plane::{Plane, PlaneConfig, StartError};
pub use routes::{Route, Routes};
