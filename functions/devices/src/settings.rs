//! The devices function's settings (Contract 4), read once at cold start.

use shared::config::{ConfigError, EnvReader};
use shared::devices::DEFAULT_MAX_DEVICES;

/// Upper bound for `MAX_DEVICES_PER_USER`: the whole list is rewritten on
/// every registration and sent back as the write's condition, so it must
/// stay small.
pub const MAX_DEVICES_LIMIT: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub devices_table: String,
    /// Devices per user; registering one more evicts the least recently
    /// updated.
    pub max_devices: usize,
}

impl Settings {
    pub fn from_env(env: &mut EnvReader<'_>) -> Self {
        Self {
            devices_table: env.required_string(shared::schema::DEVICES.env, "the devices table"),
            max_devices: env.bounded_or("MAX_DEVICES_PER_USER", DEFAULT_MAX_DEVICES, 1..=MAX_DEVICES_LIMIT),
        }
    }

    pub fn load() -> Result<Self, ConfigError> {
        let mut env = EnvReader::from_process();
        let settings = Self::from_env(&mut env);
        env.finish()?;
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut env = EnvReader::from_map(&map);
        let settings = Settings::from_env(&mut env);
        env.finish().map(|()| settings)
    }

    #[test]
    fn defaults_and_bounds() {
        let s = load(&[("DEVICES_TABLE", "t")]).unwrap();
        assert_eq!(s, Settings { devices_table: "t".into(), max_devices: 10 });
        assert_eq!(load(&[("DEVICES_TABLE", "t"), ("MAX_DEVICES_PER_USER", "3")]).unwrap().max_devices, 3);
        let err = load(&[("MAX_DEVICES_PER_USER", "0")]).unwrap_err().to_string();
        assert!(err.contains("DEVICES_TABLE is not set"), "{err}");
        assert!(err.contains("MAX_DEVICES_PER_USER=0 is out of range"), "{err}");
    }
}
