//! The devices table: one item per user with their devices and push
//! settings, and one item per registered token naming its owner. send-batch
//! looks devices up and prunes dead ones; the devices API registers and
//! unregisters them and writes preferences.

mod claims_dynamo;
mod dynamo;
#[cfg(test)]
mod fixtures;
mod item;
mod memory;
mod model;
mod ownership;
#[cfg(test)]
mod ownership_tests;
mod plan;
mod ports;
mod preferences;
mod preferences_dynamo;

pub use dynamo::{DynamoDevices, MAX_KEYS_PER_CALL};
pub use memory::MemoryDevices;
pub use model::{DEFAULT_MAX_DEVICES, Evicted, QuietHours, Registered, Registration, UserDevices};
pub use ownership::{TOKEN_ITEM_PREFIX, TokenKey, is_token_item};
pub use ports::{DeviceError, DeviceLookup, DevicePrune, DeviceRegister, DeviceUnregister, PreferencesStore};
pub use preferences::{Preferences, QuietHoursText};
