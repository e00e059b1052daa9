//! The devices table: one item per user with their devices and push
//! settings. send-batch looks devices up and prunes dead ones; the devices
//! API registers and unregisters them.

mod dynamo;
#[cfg(test)]
mod fixtures;
mod item;
mod memory;
mod model;
mod plan;
mod ports;

pub use dynamo::{DynamoDevices, MAX_KEYS_PER_CALL};
pub use memory::MemoryDevices;
pub use model::{DEFAULT_MAX_DEVICES, Evicted, QuietHours, Registered, Registration, UserDevices};
pub use ports::{DeviceError, DeviceLookup, DevicePrune, DeviceRegister, DeviceUnregister};
