//! event-plane: what AWS does between services and the local emulators do not.
//!
//! - an S3 reverse proxy that emits ObjectCreated events to Lambda functions;
//! - a Lambda Invoke endpoint that gives `Event` invocations real asynchronous
//!   semantics (queue, concurrency limit, retries, dead-letter file);
//! - EventBridge Scheduler's one-time schedules, fired by a clock tests
//!   can move;
//! - an HTTP API gateway (routes, JWT and IAM authorizers, payload 2.0
//!   events, synchronous invokes) and a local OIDC issuer for its JWTs.
//!
//! See README.md next to Cargo.toml for the interfaces.

pub mod cli;
pub mod clock;
pub mod dead_letter;
pub mod delivery;
pub mod function_name;
pub mod gateway;
pub mod http;
pub mod issuer;
pub mod json_file;
pub mod lambda_api;
pub mod plane;
pub mod queue;
pub mod routes;
pub mod s3_event;
pub mod s3_head;
pub mod s3_notify;
pub mod s3_proxy;
pub mod s3_request;
pub mod scheduler;
pub mod server;
pub mod stats;

pub use plane::{GatewayConfig, IssuerConfig, Plane, PlaneConfig, StartError};
pub use routes::{Route, Routes};
