//! devices: the HTTP API apps call to register and unregister push tokens.
//!
//! `PUT /users/{id}/devices` and `DELETE /users/{id}/devices/{token}`, behind
//! an API Gateway HTTP API whose JWT authorizer (or IAM, for backend callers)
//! has already verified the caller; the handler only decides whether that
//! caller may act on `{id}`.

pub mod auth;
pub mod body;
pub mod handler;
pub mod problem;
pub mod settings;
