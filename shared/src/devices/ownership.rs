//! One owner per token (issue 15): a token registered by one user is taken
//! from every other user's list, so a phone that switches accounts stops
//! getting the first account's pushes.
//!
//! DynamoDB transactions would do it in one step, but dynalite (the local
//! DynamoDB) has none, so the protocol is a sequence of single-item
//! conditional writes that is safe wherever it stops (docs/architecture.md,
//! "One owner per token", gives the argument for each step):
//!
//! 1. **claim** the token item (`user_id = "token#<platform>#<token>"`),
//!    conditional on the version read; the previous owner joins `releasing`;
//! 2. **release** each user in `releasing`: raise their *fence* for the token
//!    to the claim's version, then remove the token from their list; then
//!    empty `releasing`;
//! 3. **add** the token to the new owner's list, refused when a fence above
//!    the claim's version is on it (a later claim has passed by);
//! 4. **confirm** that the token item still names the new owner, and undo the
//!    add otherwise (409: claimed by another user at the same time).

use std::collections::BTreeSet;
use std::future::Future;

use chrono::{DateTime, Utc};

use super::model::{Registered, Registration};
use super::ports::{DeviceError, MAX_WRITE_ATTEMPTS};
use crate::batch::{Device, Platform};

/// Ids of token items start with this; the devices API refuses user ids
/// that do, and lookups treat them as no user.
pub const TOKEN_ITEM_PREFIX: &str = "token#";

/// Whether `user_id` is reserved for token items.
pub fn is_token_item(user_id: &str) -> bool {
    user_id.starts_with(TOKEN_ITEM_PREFIX)
}

/// A token as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenKey {
    pub platform: Platform,
    pub token: String,
}

impl TokenKey {
    pub fn new(platform: Platform, token: impl Into<String>) -> Self {
        Self { platform, token: token.into() }
    }

    pub fn of(device: &Device) -> Self {
        Self::new(device.platform, device.token.clone())
    }

    /// The token item's `user_id`.
    pub fn item_id(&self) -> String {
        format!("{TOKEN_ITEM_PREFIX}{}#{}", self.platform.as_str(), self.token)
    }

    /// The name of a user's fence for this token (a key of their `fences`).
    pub fn fence_name(&self) -> String {
        format!("{}#{}", self.platform.as_str(), self.token)
    }
}

/// A token item: who owns the token, at which claim, and whose lists may
/// still hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub owner: String,
    /// Grows with every claim; seeded from the claim's time in milliseconds,
    /// so it keeps growing across an item dropped and claimed again.
    pub version: u64,
    /// Previous owners whose removal is not known to be done.
    pub releasing: BTreeSet<String>,
}

/// What adding a device to a list came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Added {
    Done(Registered),
    /// A fence above the claim's version: another user claimed the token since.
    Fenced,
}

/// What removing one token from a user's list came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Removed; the entry's platform, when it had a readable one.
    Removed(Option<Platform>),
    Absent,
    /// The list kept changing under every attempt.
    Contended,
}

/// The single-item steps the protocol is made of; each is atomic on its own.
pub(crate) trait ClaimStore: Send + Sync {
    /// The token item, read consistently.
    fn read_claim(&self, key: &TokenKey) -> impl Future<Output = Result<Option<Claim>, DeviceError>> + Send;
    /// Writes `next` if the item is still at version `seen` (`None`: there
    /// is no item); `Ok(false)` when it moved.
    fn write_claim(
        &self,
        key: &TokenKey,
        seen: Option<u64>,
        next: &Claim,
    ) -> impl Future<Output = Result<bool, DeviceError>> + Send;
    /// Empties `releasing` if the item is still at `version`.
    fn settle_claim(&self, key: &TokenKey, version: u64) -> impl Future<Output = Result<(), DeviceError>> + Send;
    /// Deletes the item if it is still at `version`.
    fn drop_claim(&self, key: &TokenKey, version: u64) -> impl Future<Output = Result<(), DeviceError>> + Send;
    /// Raises `user_id`'s fence for `key` to `version`; never lowers it.
    fn fence(
        &self,
        user_id: &str,
        key: &TokenKey,
        version: u64,
    ) -> impl Future<Output = Result<(), DeviceError>> + Send;
    /// Removes `token` from the user's list: any entry with it, or only the
    /// one stored at `updated_at` when given.
    fn remove_device(
        &self,
        user_id: &str,
        token: &str,
        updated_at: Option<&str>,
    ) -> impl Future<Output = Result<Removal, DeviceError>> + Send;
    /// Adds or refreshes the device under `max_devices`, unless the user's
    /// fence for it is above `version`; a fence at or below it is cleared.
    fn add_device(
        &self,
        user_id: &str,
        registration: &Registration,
        max_devices: usize,
        version: u64,
    ) -> impl Future<Output = Result<Added, DeviceError>> + Send;
}

/// Registers a device for `user_id`, taking its token from anyone else.
pub(crate) async fn register<S: ClaimStore>(
    store: &S,
    user_id: &str,
    registration: &Registration,
    max_devices: usize,
) -> Result<Registered, DeviceError> {
    let key = TokenKey::of(&registration.device);
    let claim = claim(store, &key, user_id, registration.at).await?;
    release(store, &key, &claim).await?;
    let registered = match store.add_device(user_id, registration, max_devices, claim.version).await? {
        Added::Done(registered) => registered,
        Added::Fenced => return Err(claimed(&key)),
    };
    match store.read_claim(&key).await? {
        Some(now) if now.owner == user_id => Ok(registered),
        _ => {
            // Whoever claimed it since fenced this user after the add (or the
            // add would have been refused) and removes the token here too;
            // undoing it now only answers sooner, so a contended undo is left
            // to them.
            store.remove_device(user_id, &key.token, Some(&registration.updated_at())).await?;
            Err(claimed(&key))
        }
    }
}

/// Removes a token from `user_id`'s list and drops the token items that
/// name them. Each is fenced first: an add of this user's still in flight
/// cannot land after the removal once the item, and with it the record that
/// this user held the token, is gone.
pub(crate) async fn unregister<S: ClaimStore>(store: &S, user_id: &str, token: &str) -> Result<bool, DeviceError> {
    let mut owned = Vec::new();
    for platform in Platform::ALL {
        let key = TokenKey::new(platform, token);
        if let Some(claim) = store.read_claim(&key).await?
            && claim.owner == user_id
        {
            store.fence(user_id, &key, claim.version + 1).await?;
            owned.push((key, claim));
        }
    }
    let removed = match store.remove_device(user_id, token, None).await? {
        Removal::Removed(_) => true,
        Removal::Absent => false,
        Removal::Contended => return Err(contended(token)),
    };
    for (key, claim) in owned {
        release(store, &key, &claim).await?;
        store.drop_claim(&key, claim.version).await?;
    }
    Ok(removed)
}

/// After a prune removed a dead token from `user_id`'s list: drops its token
/// item if it still names them. No fence: a dead token is registered again
/// by nobody.
pub(crate) async fn forget<S: ClaimStore>(store: &S, user_id: &str, key: &TokenKey) -> Result<(), DeviceError> {
    if let Some(claim) = store.read_claim(key).await?
        && claim.owner == user_id
    {
        release(store, key, &claim).await?;
        store.drop_claim(key, claim.version).await?;
    }
    Ok(())
}

/// Step 1: the token item names `user_id`, at a version no earlier claim has.
async fn claim<S: ClaimStore>(
    store: &S,
    key: &TokenKey,
    user_id: &str,
    at: DateTime<Utc>,
) -> Result<Claim, DeviceError> {
    for _ in 0..MAX_WRITE_ATTEMPTS {
        let seen = store.read_claim(key).await?;
        let mut releasing = BTreeSet::new();
        if let Some(seen) = &seen {
            if seen.owner == user_id {
                return Ok(seen.clone());
            }
            releasing.extend(seen.releasing.iter().cloned());
            releasing.insert(seen.owner.clone());
        }
        releasing.remove(user_id);
        let seen_version = seen.map(|c| c.version);
        let next = Claim { owner: user_id.to_owned(), version: next_version(seen_version, at), releasing };
        // A lost condition is another claim landing: re-read at once, since
        // every loss is someone else's progress.
        if store.write_claim(key, seen_version, &next).await? {
            return Ok(next);
        }
    }
    Err(contended(&key.token))
}

/// Above the version seen, and at least the claim's time in milliseconds.
pub fn next_version(seen: Option<u64>, at: DateTime<Utc>) -> u64 {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    seen.map_or(0, |v| v + 1).max(millis).max(1)
}

/// Step 2: fence, then empty, the lists of the users in `releasing`. Fencing
/// first means an add of theirs either lands before the removal reads their
/// list, and is removed, or comes after the fence, and is refused.
async fn release<S: ClaimStore>(store: &S, key: &TokenKey, claim: &Claim) -> Result<(), DeviceError> {
    if claim.releasing.is_empty() {
        return Ok(());
    }
    for previous in &claim.releasing {
        store.fence(previous, key, claim.version).await?;
        if store.remove_device(previous, &key.token, None).await? == Removal::Contended {
            // `releasing` stays as it is: a retry, or the next claimant, finishes.
            return Err(contended(&key.token));
        }
    }
    store.settle_claim(key, claim.version).await
}

fn claimed(key: &TokenKey) -> DeviceError {
    DeviceError::Claimed { platform: key.platform.as_str(), token: key.token.clone() }
}

fn contended(token: &str) -> DeviceError {
    DeviceError::TokenContended { token: token.to_owned(), attempts: MAX_WRITE_ATTEMPTS }
}
