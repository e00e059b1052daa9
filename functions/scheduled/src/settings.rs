//! scheduled's settings (Contract 4), read once at cold start.

use std::time::Duration;

use shared::config::{ConfigError, EnvReader};
use shared::schema::{BUCKET_ENV, CAMPAIGN_RUNS, USERS};

#[derive(Debug, Clone)]
pub struct Settings {
    pub bucket: String,
    pub users_table: String,
    pub runs_table: String,
    /// How long a run's claim stands without finishing; after it, a retry
    /// takes over (the holder crashed). Above the slowest query.
    pub lease: Duration,
}

impl Settings {
    pub fn from_env(env: &mut EnvReader<'_>) -> Self {
        Self {
            bucket: env.required_string(BUCKET_ENV, "the bucket segments are written to"),
            users_table: env.string_or(USERS.env, USERS.default_name),
            runs_table: env.string_or(CAMPAIGN_RUNS.env, CAMPAIGN_RUNS.default_name),
            lease: env.seconds_or("LEASE_SECONDS", 600),
        }
    }

    pub fn load() -> Result<Self, ConfigError> {
        let mut env = EnvReader::from_process();
        let settings = Self::from_env(&mut env);
        env.finish()?;
        Ok(settings)
    }
}
