//! push-sandbox: a local server that answers like Apple's APNs provider API, Google's
//! FCM HTTP v1 API and Google's OAuth2 token endpoint, validating requests the way
//! the real services do and counting every accept and reject (after Pushy's
//! MockApnsServer). See README.md for flags, routes and files.

pub mod apns;
mod app;
pub mod args;
pub mod credentials;
pub mod dead;
pub mod error;
pub mod faults;
pub mod fcm;
mod http_util;
pub mod knobs;
mod message_ids;
pub mod oauth;
mod provider_token;
mod reasons;
mod router;
pub mod server;
pub mod stats;
mod token_endpoint;
pub mod webpush;

pub use args::Args;
pub use credentials::ReadyFile;
pub use error::SandboxError;
pub use server::Sandbox;
pub use stats::StatsSnapshot;
