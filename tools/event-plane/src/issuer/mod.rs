//! A local OpenID Connect issuer for the stack's test users: what a Cognito
//! user pool is to the production APIs' JWT authorizers.

pub mod directory;
pub mod server;
pub mod tokens;

pub use directory::{Directory, DirectoryError};
pub use server::Issuer;
pub use tokens::{KeyError, SigningKey};
