//! The devices function's settings (Contract 4), read once at cold start.

use shared::apps::Apps;
use shared::config::{ConfigError, EnvReader};
use shared::devices::DEFAULT_MAX_DEVICES;

/// Upper bound for `MAX_DEVICES_PER_USER`: the whole list is rewritten on
/// every registration and sent back as the write's condition, so it must
/// stay small.
pub const MAX_DEVICES_LIMIT: usize = 50;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub devices_table: String,
    /// Devices per user; registering one more evicts the least recently
    /// updated.
    pub max_devices: usize,
    /// The deployment's apps, when `APPS` lists them: a registration must
    /// name one of them (or, naming none, have a default app). `None`: any
    /// well-formed app id is taken.
    pub apps: Option<Apps>,
}

impl Settings {
    /// Settings with `APPS` unset, as the tests build them.
    pub fn new(devices_table: impl Into<String>, max_devices: usize) -> Self {
        Self { devices_table: devices_table.into(), max_devices, apps: None }
    }

    pub fn from_env(env: &mut EnvReader<'_>) -> Self {
        Self {
            devices_table: env.required_string(shared::schema::DEVICES.env, "the devices table"),
            max_devices: env.bounded_or("MAX_DEVICES_PER_USER", DEFAULT_MAX_DEVICES, 1..=MAX_DEVICES_LIMIT),
            apps: Self::apps(env),
        }
    }

    /// `APPS` as send-batch reads it, with the same defaults (`APNS_TOPIC`,
    /// `FCM_PROJECT_ID`), so that the API takes exactly the devices
    /// send-batch can send to.
    fn apps(env: &mut EnvReader<'_>) -> Option<Apps> {
        let json = env.optional_string("APPS")?;
        let topic = env.optional_string("APNS_TOPIC").filter(|t| !t.is_empty());
        let project = env.optional_string("FCM_PROJECT_ID");
        match Apps::parse(&json, topic.as_deref(), project.as_deref()) {
            Ok(apps) => Some(apps),
            Err(problem) => {
                env.problem(problem);
                None
            }
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

    use shared::batch::Platform;

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
        assert_eq!(s, Settings::new("t", 10));
        assert_eq!(load(&[("DEVICES_TABLE", "t"), ("MAX_DEVICES_PER_USER", "3")]).unwrap().max_devices, 3);
        let err = load(&[("MAX_DEVICES_PER_USER", "0")]).unwrap_err().to_string();
        assert!(err.contains("DEVICES_TABLE is not set"), "{err}");
        assert!(err.contains("MAX_DEVICES_PER_USER=0 is out of range"), "{err}");
    }

    #[test]
    fn apps_are_read_as_send_batch_reads_them() {
        let apps = r#"[{"app": "com.example.debug", "platform": "ios", "environment": "development"}]"#;
        let s = load(&[("DEVICES_TABLE", "t"), ("APPS", apps), ("APNS_TOPIC", "com.example")]).unwrap();
        let known = s.apps.expect("APPS is set");
        assert!(known.knows(Platform::Ios, "com.example.debug"));
        assert!(known.knows(Platform::Ios, "com.example"), "APNS_TOPIC is the default iOS app");
        assert!(!known.knows(Platform::Ios, "com.other"));
        let err = load(&[("DEVICES_TABLE", "t"), ("APPS", "[{\"app\": \"<b>\"}]")]).unwrap_err().to_string();
        assert!(err.contains("APPS"), "{err}");
    }
}
