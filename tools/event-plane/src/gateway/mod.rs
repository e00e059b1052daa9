//! A local HTTP API (API Gateway v2): routes from `local/apis.json`, JWT and
//! IAM authorizers, payload format 2.0 events, synchronous Lambda invokes.

pub mod answers;
pub mod apis;
pub mod claims;
pub mod event;
pub mod handler;
pub mod invoke;
pub mod jwks;
pub mod jwt;
pub mod response;
pub mod route_key;
pub mod sigv4;

pub use apis::{Apis, ApisError};
pub use handler::{DEFAULT_TIMEOUT, Gateway, GatewayError, Wiring};
pub use sigv4::{IamCredential, IamVerifier};
