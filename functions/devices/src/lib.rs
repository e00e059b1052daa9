//! devices: the HTTP API apps call to register and unregister push tokens
//! and to set their user's push preferences.
//!
//! `PUT /users/{id}/devices`, `DELETE /users/{id}/devices/{token}` and
//! `PUT`/`GET /users/{id}/preferences`, behind
//! an API Gateway HTTP API whose JWT authorizer (or IAM, for backend callers)
//! has already verified the caller; the handler only decides whether that
//! caller may act on `{id}`.

pub mod auth;
pub mod body;
pub mod handler;
pub mod preferences;
pub mod problem;
pub mod settings;
