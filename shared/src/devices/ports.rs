//! What the functions ask of the devices table.

use std::collections::HashMap;
use std::future::Future;

use super::model::{Registered, Registration, UserDevices};
use super::preferences::Preferences;
use crate::batch::Platform;
use crate::dynamo::DynamoError;

/// Conditional writes lost to concurrent writers before giving up: each loss
/// means another registration or prune of the same user landed in between.
pub const MAX_WRITE_ATTEMPTS: u32 = 8;
/// Rounds of unprocessed keys a lookup retries.
pub const MAX_LOOKUP_ATTEMPTS: u32 = 8;

#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error(transparent)]
    Dynamo(#[from] DynamoError),
    #[error("DynamoDB kept returning unprocessed keys for {table} after {MAX_LOOKUP_ATTEMPTS} attempts")]
    Unprocessed { table: String },
    #[error("the devices of {user_id} in {table} kept changing under {attempts} conditional writes")]
    Contended { table: String, user_id: String, attempts: u32 },
    /// Another user claimed the token between this registration's claim and
    /// its confirmation; the registration was undone. (The token is kept out
    /// of the message, which is logged.)
    #[error("the {platform} token was claimed by another user at the same time")]
    Claimed { platform: &'static str, token: String },
    #[error("the owner of a token kept changing under {attempts} claims")]
    TokenContended { token: String, attempts: u32 },
    #[error("a {platform} token item in {table} is malformed: {reason}")]
    BadTokenItem { table: String, platform: &'static str, reason: String },
    #[error("the preferences of {user_id} in {table} are malformed: {reason}")]
    BadPreferences { table: String, user_id: String, reason: String },
}

/// Looks up users' devices; users with no item are absent from the map.
pub trait DeviceLookup: Send + Sync {
    fn lookup(
        &self,
        user_ids: &[String],
    ) -> impl Future<Output = Result<HashMap<String, UserDevices>, DeviceError>> + Send;
}

/// Removes a dead token, only if it is still the same token.
pub trait DevicePrune: Send + Sync {
    fn prune(&self, user_id: &str, token: &str) -> impl Future<Output = Result<bool, DeviceError>> + Send;

    /// The same, for a token the lookup read at `index` of the user's list:
    /// a store may first try the one conditional write that removes it there
    /// (saving the read), and prune as above when the list has moved.
    fn prune_seen(
        &self,
        user_id: &str,
        platform: Platform,
        token: &str,
        index: usize,
    ) -> impl Future<Output = Result<bool, DeviceError>> + Send {
        let _ = (platform, index);
        self.prune(user_id, token)
    }
}

/// Adds a device to a user, or refreshes it; never more than `max_devices`.
pub trait DeviceRegister: Send + Sync {
    fn register(
        &self,
        user_id: &str,
        registration: &Registration,
        max_devices: usize,
    ) -> impl Future<Output = Result<Registered, DeviceError>> + Send;
}

/// Removes a device from a user; `Ok(false)` when it was not registered.
pub trait DeviceUnregister: Send + Sync {
    fn unregister(&self, user_id: &str, token: &str) -> impl Future<Output = Result<bool, DeviceError>> + Send;
}

/// A user's preferences: a put replaces them, and never touches devices.
pub trait PreferencesStore: Send + Sync {
    fn put_preferences(
        &self,
        user_id: &str,
        preferences: &Preferences,
    ) -> impl Future<Output = Result<(), DeviceError>> + Send;
    /// What is stored; the empty document when the user has no item.
    fn get_preferences(&self, user_id: &str) -> impl Future<Output = Result<Preferences, DeviceError>> + Send;
}
