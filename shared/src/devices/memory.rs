//! An in-memory devices table, for tests and offline runs.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::model::{Evicted, QuietHours, Registered, Registration, UserDevices};
use super::ownership::{self, Added, Claim, ClaimStore, Removal, TokenKey, is_token_item};
use super::plan::{Slot, plan};
use super::ports::{DeviceError, DeviceLookup, DevicePrune, DeviceRegister, DeviceUnregister, PreferencesStore};
use super::preferences::Preferences;
use crate::batch::Platform;

#[derive(Default)]
pub struct MemoryDevices {
    pub users: Mutex<HashMap<String, UserDevices>>,
    /// App and time of devices registered through `DeviceRegister`, keyed by
    /// (user, token): `UserDevices` carries only what send-batch needs.
    details: Mutex<HashMap<(String, String), Registration>>,
    /// The token index (DynamoDB's token items).
    claims: Mutex<HashMap<TokenKey, Claim>>,
    /// Users' fences, by (user, token).
    fences: Mutex<HashMap<(String, TokenKey), u64>>,
    preferences: Mutex<HashMap<String, Preferences>>,
}

/// A poisoned lock only means a test panicked while holding it; the maps
/// are still whole, since every change is made under one lock at a time.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl MemoryDevices {
    pub fn with(users: impl IntoIterator<Item = (String, UserDevices)>) -> Self {
        Self { users: Mutex::new(users.into_iter().collect()), ..Self::default() }
    }
}

impl DeviceLookup for MemoryDevices {
    async fn lookup(&self, user_ids: &[String]) -> Result<HashMap<String, UserDevices>, DeviceError> {
        let users = lock(&self.users);
        Ok(user_ids
            .iter()
            .filter(|id| !is_token_item(id))
            .filter_map(|id| users.get(id).map(|u| (id.clone(), u.clone())))
            .collect())
    }
}

impl DevicePrune for MemoryDevices {
    async fn prune(&self, user_id: &str, token: &str) -> Result<bool, DeviceError> {
        match self.remove_device(user_id, token, None).await? {
            Removal::Removed(platform) => {
                if let Some(platform) = platform {
                    ownership::forget(self, user_id, &TokenKey::new(platform, token)).await?;
                }
                Ok(true)
            }
            Removal::Absent | Removal::Contended => Ok(false),
        }
    }
}

impl DeviceRegister for MemoryDevices {
    async fn register(
        &self,
        user_id: &str,
        registration: &Registration,
        max_devices: usize,
    ) -> Result<Registered, DeviceError> {
        ownership::register(self, user_id, registration, max_devices).await
    }
}

impl DeviceUnregister for MemoryDevices {
    async fn unregister(&self, user_id: &str, token: &str) -> Result<bool, DeviceError> {
        ownership::unregister(self, user_id, token).await
    }
}

impl ClaimStore for MemoryDevices {
    async fn read_claim(&self, key: &TokenKey) -> Result<Option<Claim>, DeviceError> {
        Ok(lock(&self.claims).get(key).cloned())
    }

    async fn write_claim(&self, key: &TokenKey, seen: Option<u64>, next: &Claim) -> Result<bool, DeviceError> {
        let mut claims = lock(&self.claims);
        if claims.get(key).map(|c| c.version) != seen {
            return Ok(false);
        }
        claims.insert(key.clone(), next.clone());
        Ok(true)
    }

    async fn settle_claim(&self, key: &TokenKey, version: u64) -> Result<(), DeviceError> {
        if let Some(claim) = lock(&self.claims).get_mut(key).filter(|c| c.version == version) {
            claim.releasing.clear();
        }
        Ok(())
    }

    async fn drop_claim(&self, key: &TokenKey, version: u64) -> Result<(), DeviceError> {
        let mut claims = lock(&self.claims);
        if claims.get(key).is_some_and(|c| c.version == version) {
            claims.remove(key);
        }
        Ok(())
    }

    async fn fence(&self, user_id: &str, key: &TokenKey, version: u64) -> Result<(), DeviceError> {
        let mut fences = lock(&self.fences);
        let fence = fences.entry((user_id.to_owned(), key.clone())).or_insert(version);
        *fence = (*fence).max(version);
        Ok(())
    }

    async fn remove_device(
        &self,
        user_id: &str,
        token: &str,
        updated_at: Option<&str>,
    ) -> Result<Removal, DeviceError> {
        let mut users = lock(&self.users);
        let mut details = lock(&self.details);
        let Some(user) = users.get_mut(user_id) else { return Ok(Removal::Absent) };
        let detail_key = (user_id.to_owned(), token.to_owned());
        let stored_at = details.get(&detail_key).map(Registration::updated_at);
        if updated_at.is_some_and(|at| stored_at.as_deref() != Some(at)) {
            return Ok(Removal::Absent);
        }
        let Some(index) = user.devices.iter().position(|d| d.token == token) else { return Ok(Removal::Absent) };
        let removed = user.devices.remove(index);
        details.remove(&detail_key);
        Ok(Removal::Removed(Some(removed.platform)))
    }

    async fn add_device(
        &self,
        user_id: &str,
        registration: &Registration,
        max_devices: usize,
        version: u64,
    ) -> Result<Added, DeviceError> {
        let mut users = lock(&self.users);
        let mut details = lock(&self.details);
        let mut fences = lock(&self.fences);
        let fence_key = (user_id.to_owned(), TokenKey::of(&registration.device));
        if fences.get(&fence_key).is_some_and(|&fence| fence > version) {
            return Ok(Added::Fenced);
        }
        fences.remove(&fence_key);
        let user = users
            .entry(user_id.to_owned())
            .or_insert_with(|| UserDevices { push_enabled: true, ..UserDevices::default() });
        let slots: Vec<Slot> = user
            .devices
            .iter()
            .map(|d| Slot {
                token: Some(d.token.clone()),
                updated_at: details.get(&(user_id.to_owned(), d.token.clone())).map(|d| d.at),
            })
            .collect();
        let plan = plan(&slots, &registration.device.token, max_devices);
        let evicted = plan
            .evicted
            .iter()
            .map(|&i| Evicted {
                platform: user.devices[i].platform.as_str().to_owned(),
                token: user.devices[i].token.clone(),
            })
            .collect::<Vec<_>>();
        let mut index = 0;
        user.devices.retain(|_| {
            let keep = !plan.removes(index);
            index += 1;
            keep
        });
        user.devices.push(registration.device.clone());
        for gone in &evicted {
            details.remove(&(user_id.to_owned(), gone.token.clone()));
        }
        details.insert((user_id.to_owned(), registration.device.token.clone()), registration.clone());
        Ok(Added::Done(Registered { created: plan.replaced.is_empty(), evicted }))
    }
}

impl PreferencesStore for MemoryDevices {
    async fn put_preferences(&self, user_id: &str, preferences: &Preferences) -> Result<(), DeviceError> {
        let mut users = lock(&self.users);
        // What send-batch reads changes with them, as it does in the table.
        let user = users
            .entry(user_id.to_owned())
            .or_insert_with(|| UserDevices { push_enabled: true, ..UserDevices::default() });
        user.push_enabled = preferences.push_enabled.unwrap_or(true);
        user.muted_categories = preferences.muted_categories.iter().cloned().collect();
        user.time_zone = preferences.time_zone.as_deref().and_then(|z| z.parse().ok());
        user.locale = preferences.locale.clone();
        user.quiet_hours = preferences.quiet_hours.as_ref().and_then(|q| QuietHours::parse(&q.start, &q.end).ok());
        lock(&self.preferences).insert(user_id.to_owned(), preferences.clone());
        Ok(())
    }

    async fn get_preferences(&self, user_id: &str) -> Result<Preferences, DeviceError> {
        // No entry is a user who never set any: the empty document.
        Ok(lock(&self.preferences).get(user_id).map_or_else(Preferences::default, Clone::clone))
    }
}

impl MemoryDevices {
    /// A registered device's app and time, for tests.
    pub fn registration(&self, user_id: &str, token: &str) -> Option<Registration> {
        lock(&self.details).get(&(user_id.to_owned(), token.to_owned())).cloned()
    }

    /// Who the token index says owns a token, for tests.
    pub fn owner(&self, platform: Platform, token: &str) -> Option<String> {
        lock(&self.claims).get(&TokenKey::new(platform, token)).map(|c| c.owner.clone())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::batch::{Device, Platform};
    use crate::devices::fixtures::{at, reg};

    #[tokio::test]
    async fn memory_prune_removes_only_that_token() {
        let mem = MemoryDevices::with([(
            "u".to_owned(),
            UserDevices {
                devices: vec![Device::new(Platform::Ios, "a"), Device::new(Platform::Ios, "b")],
                push_enabled: true,
                muted_categories: HashSet::new(),
                ..UserDevices::default()
            },
        )]);
        assert!(mem.prune("u", "a").await.unwrap());
        assert!(!mem.prune("u", "a").await.unwrap());
        assert_eq!(mem.lookup(&["u".into()]).await.unwrap()["u"].devices.len(), 1);
    }

    #[tokio::test]
    async fn memory_registers_refreshes_evicts_and_unregisters() {
        let mem = MemoryDevices::default();
        assert!(mem.register("u", &reg("a", 1), 2).await.unwrap().created);
        assert!(mem.register("u", &reg("b", 2), 2).await.unwrap().created);
        let again = mem.register("u", &reg("a", 3), 2).await.unwrap();
        assert_eq!(again, Registered { created: false, evicted: vec![] });
        let third = mem.register("u", &reg("c", 4), 2).await.unwrap();
        assert_eq!(third.evicted, vec![Evicted { platform: "android".into(), token: "b".into() }]);
        let user = &mem.lookup(&["u".into()]).await.unwrap()["u"];
        let tokens: Vec<&str> = user.devices.iter().map(|d| d.token.as_str()).collect();
        assert_eq!(tokens, ["a", "c"]);
        assert!(user.push_enabled);
        assert_eq!(mem.registration("u", "a").unwrap().at, at(3));
        assert!(mem.unregister("u", "a").await.unwrap());
        assert!(!mem.unregister("u", "a").await.unwrap());
        assert!(!mem.unregister("nobody", "a").await.unwrap());
    }
}
