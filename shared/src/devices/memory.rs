//! An in-memory devices table, for tests and offline runs.

use std::collections::HashMap;
use std::sync::Mutex;

use super::model::{Evicted, Registered, Registration, UserDevices};
use super::plan::{Slot, plan};
use super::ports::{DeviceError, DeviceLookup, DevicePrune, DeviceRegister, DeviceUnregister};

#[derive(Default)]
pub struct MemoryDevices {
    pub users: Mutex<HashMap<String, UserDevices>>,
    /// App and time of devices registered through `DeviceRegister`, keyed by
    /// (user, token): `UserDevices` carries only what send-batch needs.
    details: Mutex<HashMap<(String, String), Registration>>,
}

impl MemoryDevices {
    pub fn with(users: impl IntoIterator<Item = (String, UserDevices)>) -> Self {
        Self { users: Mutex::new(users.into_iter().collect()), details: Mutex::default() }
    }
}

impl DeviceLookup for MemoryDevices {
    async fn lookup(&self, user_ids: &[String]) -> Result<HashMap<String, UserDevices>, DeviceError> {
        let users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        Ok(user_ids.iter().filter_map(|id| users.get(id).map(|u| (id.clone(), u.clone()))).collect())
    }
}

impl DevicePrune for MemoryDevices {
    async fn prune(&self, user_id: &str, token: &str) -> Result<bool, DeviceError> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let Some(user) = users.get_mut(user_id) else { return Ok(false) };
        let before = user.devices.len();
        user.devices.retain(|d| d.token != token);
        Ok(user.devices.len() < before)
    }
}

impl DeviceRegister for MemoryDevices {
    async fn register(
        &self,
        user_id: &str,
        registration: &Registration,
        max_devices: usize,
    ) -> Result<Registered, DeviceError> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let mut details = self.details.lock().unwrap_or_else(|p| p.into_inner());
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
        Ok(Registered { created: plan.replaced.is_empty(), evicted })
    }
}

impl DeviceUnregister for MemoryDevices {
    async fn unregister(&self, user_id: &str, token: &str) -> Result<bool, DeviceError> {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let Some(user) = users.get_mut(user_id) else { return Ok(false) };
        let before = user.devices.len();
        user.devices.retain(|d| d.token != token);
        self.details.lock().unwrap_or_else(|p| p.into_inner()).remove(&(user_id.to_owned(), token.to_owned()));
        Ok(user.devices.len() < before)
    }
}

impl MemoryDevices {
    /// A registered device's app and time, for tests.
    pub fn registration(&self, user_id: &str, token: &str) -> Option<Registration> {
        self.details.lock().unwrap_or_else(|p| p.into_inner()).get(&(user_id.to_owned(), token.to_owned())).cloned()
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
