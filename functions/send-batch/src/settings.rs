//! send-batch's settings (Contract 4), read once at cold start.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use shared::apps::Apps;
use shared::clock::CalendarClock;
use shared::config::{ConfigError, EnvReader, SecretSource};
use shared::push::apns;
use shared::push::fcm;
use shared::push::retry::RetryPolicy;
use shared::schedules::ScheduleTarget;
use shared::shards::ShardPolicy;

#[derive(Debug, Clone)]
pub struct ApnsSettings {
    pub endpoint: String,
    /// For apps whose `environment` is `development` (see `shared::apps`).
    pub development_endpoint: String,
    pub key: SecretSource,
    pub key_id: String,
    pub team_id: String,
    pub connections: usize,
    pub max_in_flight: usize,
}

#[derive(Debug, Clone)]
pub struct FcmSettings {
    pub endpoint: String,
    pub service_account: SecretSource,
    pub project_id: Option<String>,
    pub connections: usize,
    pub max_in_flight: usize,
    pub rate_per_minute: Option<u32>,
}

/// Web Push: the deployment's VAPID key (RFC 8292) and contact.
#[derive(Debug, Clone)]
pub struct WebPushSettings {
    pub vapid_key: SecretSource,
    /// The JWT's `sub`: a `mailto:` or `https://` contact for push services.
    pub subject: String,
    pub max_in_flight: usize,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub devices_table: String,
    pub jobs_table: String,
    pub batch_size: usize,
    /// Batches a link keeps open at once (`PIPELINE_BATCHES`): read ahead
    /// while the earlier ones send. A crash resends at most these.
    pub pipeline_batches: usize,
    pub max_run: Option<Duration>,
    pub margin_floor: Duration,
    pub lease: Duration,
    pub file_cache_max_bytes: u64,
    pub default_topic: String,
    pub apns: Option<ApnsSettings>,
    pub fcm: Option<FcmSettings>,
    pub webpush: Option<WebPushSettings>,
    pub extra_ca: Option<PathBuf>,
    pub retry: RetryPolicy,
    pub request_timeout: Duration,
    pub shards: ShardPolicy,
    pub fcm_shared: Option<SharedQuotaSettings>,
    pub apns_shared: Option<SharedQuotaSettings>,
    /// EventBridge Scheduler for `send_at`; without it such files fail.
    pub scheduler: Option<ScheduleTarget>,
    /// The function one-time schedules invoke (`SCHEDULE_TARGET_ARN`);
    /// unset, this function as it was invoked. The local stack sets it:
    /// `cargo lambda watch` says the invoked ARN is `function-arn`, which
    /// Scheduler, and the event plane's, refuse as a target.
    pub schedule_target_arn: Option<String>,
    /// Every app a device may belong to, with its route (`APPS`).
    pub apps: Apps,
    /// Frequency caps: pushes a user may get in their local day, in all
    /// (`CAP_PER_DAY`) and per category (`CATEGORY_CAPS`, JSON).
    pub cap_per_day: Option<u32>,
    pub category_caps: BTreeMap<String, u32>,
    pub caps_table: String,
    /// The users' calendar (local days, quiet hours, `send_at`): the system
    /// clock, or `PUSHBATCH_CLOCK_FILE` in tests.
    pub calendar: CalendarClock,
    /// Writes each delivery's provider receipt to `receipts.jsonl`
    /// (`DELIVERY_RECEIPTS`, off by default: a line per delivered device).
    pub delivery_receipts: bool,
}

impl Settings {
    pub fn from_env(env: &mut EnvReader<'_>) -> Self {
        let max_run = env.optional_parsed::<f64>("MAX_RUN_SECONDS").map(Duration::from_secs_f64);
        // Default floor 20 s (time to checkpoint and invoke even when AWS is
        // slow), but never more than a quarter of a deliberately short run.
        let floor_default = max_run.map_or(20.0, |m| (m.as_secs_f64() / 4.0).min(20.0));
        let margin_floor = Duration::from_secs_f64(env.parsed_or("SAFETY_MARGIN_SECONDS", floor_default));
        let apns = Self::apns(env);
        let fcm = Self::fcm(env);
        let webpush = Self::webpush(env);
        if apns.is_none() && fcm.is_none() && webpush.is_none() {
            env.problem("no push provider is configured: set APNS_KEY_FILE/APNS_KEY_SECRET_ARN, FCM_SERVICE_ACCOUNT_FILE/FCM_SERVICE_ACCOUNT_SECRET_ARN and/or WEBPUSH_VAPID_KEY_FILE/WEBPUSH_VAPID_KEY_SECRET_ARN");
        }
        let default_topic = match &apns {
            Some(_) => env.required_string("APNS_TOPIC", "the default apns-topic, usually the app's bundle id"),
            None => env.string_or("APNS_TOPIC", ""),
        };
        let fcm_shared = SharedQuotaSettings::from_env(env, "FCM");
        let apps = Self::apps(env, &apns, &fcm, &default_topic);
        let (cap_per_day, category_caps) = Self::caps(env);
        Self {
            apps,
            cap_per_day,
            category_caps,
            caps_table: env.string_or(shared::schema::CAPS.env, shared::schema::CAPS.default_name),
            calendar: match env.optional_path(shared::clock::CLOCK_FILE_ENV) {
                Some(path) => CalendarClock::File(path),
                None => CalendarClock::System,
            },
            devices_table: env.required_string(shared::schema::DEVICES.env, "the devices table"),
            jobs_table: env.required_string(shared::schema::JOBS.env, "the jobs table"),
            batch_size: env.bounded_or("BATCH_SIZE", 500, 1..=10_000),
            pipeline_batches: env.bounded_or("PIPELINE_BATCHES", 6, 1..=64),
            delivery_receipts: env.bool_or("DELIVERY_RECEIPTS", false),
            max_run,
            margin_floor,
            // A batch whose devices all need every retry (5 attempts, 10 s
            // cap, 10 s timeouts) can take minutes; a lease shorter than that
            // would let a duplicate invocation take over and resend it.
            lease: Duration::from_secs_f64(env.bounded_or("LEASE_SECONDS", 180.0, 1.0..=900.0)),
            file_cache_max_bytes: env.bounded_or("FILE_CACHE_MAX_MB", 64u64, 0..=4096) * 1024 * 1024,
            default_topic,
            apns,
            fcm,
            webpush,
            extra_ca: env.optional_path("PUSH_EXTRA_CA_FILE"),
            retry: RetryPolicy {
                max_attempts: env.bounded_or("PUSH_MAX_ATTEMPTS", 5, 1..=20),
                base: Duration::from_millis(env.bounded_or("PUSH_RETRY_BASE_MS", 100, 1..=60_000)),
                cap: Duration::from_millis(env.bounded_or("PUSH_RETRY_CAP_MS", 10_000, 1..=300_000)),
            },
            request_timeout: Duration::from_secs(env.bounded_or("PUSH_REQUEST_TIMEOUT_SECONDS", 10, 1..=120)),
            shards: Self::shards(env, fcm_shared),
            fcm_shared,
            apns_shared: SharedQuotaSettings::from_env(env, "APNS"),
            scheduler: env.optional_string("SCHEDULER_ROLE_ARN").map(|role_arn| ScheduleTarget {
                group: env.string_or("SCHEDULE_GROUP", "default"),
                role_arn,
                dead_letter_arn: env.optional_string("SCHEDULE_DEAD_LETTER_ARN"),
            }),
            schedule_target_arn: env.optional_string("SCHEDULE_TARGET_ARN"),
        }
    }

    fn apps(
        env: &mut EnvReader<'_>,
        apns: &Option<ApnsSettings>,
        fcm: &Option<FcmSettings>,
        default_topic: &str,
    ) -> Apps {
        let topic = apns.as_ref().map(|_| default_topic);
        let parsed = match env.optional_string("APPS") {
            Some(json) => Apps::parse(&json, topic, fcm.as_ref().and_then(|f| f.project_id.as_deref())),
            None => Apps::single(topic, fcm.is_some()),
        };
        parsed.unwrap_or_else(|problem| {
            env.problem(problem);
            Apps::default()
        })
    }

    fn caps(env: &mut EnvReader<'_>) -> (Option<u32>, BTreeMap<String, u32>) {
        let per_day = env.optional_parsed::<u32>("CAP_PER_DAY");
        if per_day == Some(0) {
            env.problem("CAP_PER_DAY must be at least 1 (a cap of 0 would send nothing); leave it unset for no cap");
        }
        let by_category = match env.optional_string("CATEGORY_CAPS") {
            None => BTreeMap::new(),
            Some(json) => match serde_json::from_str::<BTreeMap<String, u32>>(&json) {
                Ok(caps) if caps.values().all(|n| *n > 0) => caps,
                Ok(_) => {
                    env.problem("CATEGORY_CAPS: every cap must be at least 1");
                    BTreeMap::new()
                }
                Err(e) => {
                    env.problem(format!("CATEGORY_CAPS must be a JSON object of category to count: {e}"));
                    BTreeMap::new()
                }
            },
        };
        (per_day, by_category)
    }

    fn shards(env: &mut EnvReader<'_>, fcm_shared: Option<SharedQuotaSettings>) -> ShardPolicy {
        ShardPolicy {
            min_bytes: env.bounded_or("SHARD_MIN_MB", 16u64, 0..=1_000_000) * 1024 * 1024,
            // Each shard is one concurrent invocation: keep this below the
            // function's reserved concurrency (template.yaml).
            max_shards: env.bounded_or("MAX_SHARDS", 8, 1..=999),
            target: Duration::from_secs(env.bounded_or("SHARD_TARGET_SECONDS", 900, 1..=86_400)),
            // Conservative next to the send path's measured rate: a chain's
            // users/s is bounded by its device lookups as much as by pushes.
            chain_users_per_second: env.bounded_or("SHARD_CHAIN_USERS_PER_SECOND", 8000.0, 1.0..=1_000_000.0),
            // FCM's shared quota, as users a second at one device each.
            quota_users_per_second: fcm_shared.map(|q| q.per_minute as f64 / 60.0),
        }
    }

    fn apns(env: &mut EnvReader<'_>) -> Option<ApnsSettings> {
        if !secret_given(env, "APNS_KEY") {
            return None;
        }
        let key = SecretSource::from_env(env, "APNS_KEY", "the APNs .p8 signing key");
        let settings = ApnsSettings {
            endpoint: env.string_or("APNS_ENDPOINT", apns::DEFAULT_ENDPOINT),
            development_endpoint: env.string_or("APNS_DEVELOPMENT_ENDPOINT", apns::DEVELOPMENT_ENDPOINT),
            key: key.clone().unwrap_or(SecretSource::File(PathBuf::new())),
            key_id: env.required_string("APNS_KEY_ID", "the 10-character id of the APNs key"),
            team_id: env.required_string("APNS_TEAM_ID", "the Apple developer team id"),
            connections: env.bounded_or("APNS_CONNECTIONS", 4, 1..=64),
            max_in_flight: env.bounded_or("APNS_MAX_IN_FLIGHT", 2000, 1..=100_000),
        };
        key.map(|_| settings)
    }

    fn fcm(env: &mut EnvReader<'_>) -> Option<FcmSettings> {
        if !secret_given(env, "FCM_SERVICE_ACCOUNT") {
            return None;
        }
        let account = SecretSource::from_env(env, "FCM_SERVICE_ACCOUNT", "the FCM service-account key");
        let rate: u32 = env.parsed_or("FCM_RATE_PER_MINUTE", fcm::DEFAULT_RATE_PER_MINUTE);
        let settings = FcmSettings {
            endpoint: env.string_or("FCM_ENDPOINT", fcm::DEFAULT_ENDPOINT),
            service_account: account.clone().unwrap_or(SecretSource::File(PathBuf::new())),
            project_id: env.optional_string("FCM_PROJECT_ID"),
            connections: env.bounded_or("FCM_CONNECTIONS", 2, 1..=64),
            max_in_flight: env.bounded_or("FCM_MAX_IN_FLIGHT", 1000, 1..=100_000),
            rate_per_minute: (rate > 0).then_some(rate),
        };
        account.map(|_| settings)
    }

    fn webpush(env: &mut EnvReader<'_>) -> Option<WebPushSettings> {
        if !secret_given(env, "WEBPUSH_VAPID_KEY") {
            return None;
        }
        let key = SecretSource::from_env(env, "WEBPUSH_VAPID_KEY", "the Web Push VAPID key");
        let subject = env.required_string("WEBPUSH_SUBJECT", "the VAPID contact, mailto:... or https://...");
        if !subject.is_empty() && !shared::push::vapid::subject_is_contact(&subject) {
            env.problem(format!("WEBPUSH_SUBJECT must be a mailto: or https:// URI, got {subject:?}"));
        }
        let max_in_flight = env.bounded_or("WEBPUSH_MAX_IN_FLIGHT", 500, 1..=100_000);
        key.map(|vapid_key| WebPushSettings { vapid_key, subject, max_in_flight })
    }

    pub fn load() -> Result<Self, ConfigError> {
        let mut env = EnvReader::from_process();
        let settings = Self::from_env(&mut env);
        env.finish().map(|_| settings)
    }
}

/// Whether a provider's secret is given (`<prefix>_FILE` or
/// `<prefix>_SECRET_ARN`): a provider without one is not configured.
fn secret_given(env: &mut EnvReader<'_>, prefix: &str) -> bool {
    env.optional_string(&format!("{prefix}_FILE")).is_some()
        || env.optional_string(&format!("{prefix}_SECRET_ARN")).is_some()
}

/// Tokens taken from a shared bucket at a time: two DynamoDB calls per
/// block (bench/fanout reads this figure).
pub const DEFAULT_SHARED_QUOTA_BLOCK: u64 = 500;

/// A provider's rate shared with every concurrent sender (a token bucket in
/// the jobs table, see `shared::quota`): FCM's project quota
/// (`FCM_SHARED_RATE_PER_MINUTE`; the template sets FCM's default 600,000),
/// or a cap on APNs (`APNS_SHARED_RATE_PER_MINUTE`: Apple publishes none).
/// Off unless set; FCM's own `FCM_RATE_PER_MINUTE` limit applies either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedQuotaSettings {
    pub per_minute: u64,
    /// Tokens taken from the bucket at a time.
    pub block: u64,
}

impl SharedQuotaSettings {
    /// `provider` is the variables' prefix: `FCM` or `APNS`.
    pub fn from_env(env: &mut EnvReader<'_>, provider: &str) -> Option<Self> {
        let per_minute =
            env.optional_parsed::<u64>(&format!("{provider}_SHARED_RATE_PER_MINUTE")).filter(|r| *r > 0)?;
        let block = env.bounded_or(&format!("{provider}_SHARED_QUOTA_BLOCK"), DEFAULT_SHARED_QUOTA_BLOCK, 1..=100_000);
        Some(Self { per_minute, block })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut env = EnvReader::from_map(&map);
        let s = Settings::from_env(&mut env);
        env.finish().map(|_| s)
    }

    #[test]
    fn names_every_missing_value() {
        let err = load(&[("APNS_KEY_FILE", "/k.p8"), ("BATCH_SIZE", "0")]).unwrap_err().to_string();
        for needle in ["DEVICES_TABLE", "JOBS_TABLE", "APNS_KEY_ID", "APNS_TEAM_ID", "APNS_TOPIC", "BATCH_SIZE"] {
            assert!(err.contains(needle), "{needle} missing from: {err}");
        }
        let err = load(&[("DEVICES_TABLE", "d"), ("JOBS_TABLE", "j")]).unwrap_err().to_string();
        assert!(err.contains("no push provider"), "{err}");
    }

    #[test]
    fn defaults_and_short_runs() {
        let s = load(&[
            ("DEVICES_TABLE", "d"),
            ("JOBS_TABLE", "j"),
            ("FCM_SERVICE_ACCOUNT_FILE", "/sa.json"),
            ("MAX_RUN_SECONDS", "4"),
        ])
        .unwrap();
        assert_eq!(s.batch_size, 500);
        assert_eq!(s.margin_floor, Duration::from_secs(1));
        assert!(s.apns.is_none());
        assert_eq!(s.fcm.unwrap().rate_per_minute, Some(600_000));
        assert_eq!((s.shards.max_shards, s.shards.min_bytes), (8, 16 * 1024 * 1024));
        assert_eq!(s.shards.quota_users_per_second, None);
        let s = load(&[
            ("DEVICES_TABLE", "d"),
            ("JOBS_TABLE", "j"),
            ("FCM_SERVICE_ACCOUNT_FILE", "/sa.json"),
            ("FCM_SHARED_RATE_PER_MINUTE", "600000"),
        ])
        .unwrap();
        assert_eq!(s.shards.quota_users_per_second, Some(10_000.0), "the shared quota caps the shards");
    }

    #[test]
    fn web_push_alone_is_a_provider_and_needs_its_contact() {
        let s = load(&[
            ("DEVICES_TABLE", "d"),
            ("JOBS_TABLE", "j"),
            ("WEBPUSH_VAPID_KEY_FILE", "/vapid.pem"),
            ("WEBPUSH_SUBJECT", "mailto:ops@example.com"),
        ])
        .unwrap();
        let w = s.webpush.unwrap();
        assert_eq!((w.subject.as_str(), w.max_in_flight), ("mailto:ops@example.com", 500));
        assert!(s.apns.is_none() && s.fcm.is_none());
        let err = load(&[("DEVICES_TABLE", "d"), ("JOBS_TABLE", "j"), ("WEBPUSH_VAPID_KEY_SECRET_ARN", "arn:x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("WEBPUSH_SUBJECT"), "{err}");
        let err = load(&[
            ("DEVICES_TABLE", "d"),
            ("JOBS_TABLE", "j"),
            ("WEBPUSH_VAPID_KEY_FILE", "/vapid.pem"),
            ("WEBPUSH_SUBJECT", "ops@example.com"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("mailto: or https://"), "{err}");
    }

    #[test]
    fn shared_rates_are_per_provider_and_off_unless_set() {
        let map: BTreeMap<String, String> = [
            ("APNS_SHARED_RATE_PER_MINUTE", "1200"),
            ("APNS_SHARED_QUOTA_BLOCK", "20"),
            ("FCM_SHARED_RATE_PER_MINUTE", "0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut env = EnvReader::from_map(&map);
        assert_eq!(
            SharedQuotaSettings::from_env(&mut env, "APNS"),
            Some(SharedQuotaSettings { per_minute: 1200, block: 20 })
        );
        assert_eq!(SharedQuotaSettings::from_env(&mut env, "FCM"), None, "0 is off");
        env.finish().unwrap();
    }
}
