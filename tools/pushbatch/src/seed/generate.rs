//! Deterministic synthetic users: user `i` depends only on the options and
//! `i`, so tests can compute any user's record (and whole-run totals)
//! without reading the table back, and writers can generate in any order.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use super::SeedError;

/// App id on every seeded device.
pub const APP_ID: &str = "com.example.pushbatch";
/// Prefix that makes push-sandbox treat a token as dead.
pub const DEAD_PREFIX: &str = "dead";
/// iOS tokens starting with this get DeviceTokenNotForTopic from the sandbox;
/// live tokens must avoid it as well as the dead prefix.
const NOT_FOR_TOPIC_PREFIX: &str = "badbad";
/// Categories muted users pick from.
pub const MUTED_CATEGORIES: &[&str] = &["marketing", "re-engagement", "news", "reminders"];
/// `updated_at` values lie in the 90 days before this instant (fixed, so
/// records do not depend on when the seeder runs): 2026-01-01T00:00:00Z.
const UPDATED_AT_END_EPOCH: i64 = 1_767_225_600;
const UPDATED_AT_SPAN_SECS: i64 = 90 * 24 * 3600;

const HEX: &[u8; 16] = b"0123456789abcdef";
const FCM_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
/// FCM registration tokens look like `<22-char instance id>:APA91b<rest>`.
const FCM_INSTANCE_LEN: usize = 22;
const FCM_MARKER: &str = ":APA91b";
pub const FCM_TOKEN_LEN: usize = 152;
pub const APNS_TOKEN_LEN: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Ios,
    Android,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Ios => "ios",
            Platform::Android => "android",
        }
    }

    fn other(self) -> Self {
        match self {
            Platform::Ios => Platform::Android,
            Platform::Android => Platform::Ios,
        }
    }
}

/// How to generate users.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedOptions {
    pub users: u64,
    /// Share of devices whose token starts with `dead`.
    pub dead_fraction: f64,
    /// Share of users with `push_enabled = false`.
    pub opted_out_fraction: f64,
    /// Share of users whose first device is iOS.
    pub ios_fraction: f64,
    /// Share of users with a second device on the other platform.
    pub second_device_fraction: f64,
    /// Share of users with `muted_categories`.
    pub muted_fraction: f64,
    pub seed: u64,
    /// User id prefix: ids are `<prefix><index:06>`, from 1.
    pub prefix: String,
}

impl Default for SeedOptions {
    fn default() -> Self {
        Self {
            users: 0,
            dead_fraction: 0.05,
            opted_out_fraction: 0.0,
            ios_fraction: 0.5,
            second_device_fraction: 0.2,
            muted_fraction: 0.0,
            seed: 42,
            prefix: "u-".to_string(),
        }
    }
}

impl SeedOptions {
    pub fn validate(&self) -> Result<(), SeedError> {
        let fractions = [
            ("dead-fraction", self.dead_fraction),
            ("opted-out-fraction", self.opted_out_fraction),
            ("ios-fraction", self.ios_fraction),
            ("second-device-fraction", self.second_device_fraction),
            ("muted-fraction", self.muted_fraction),
        ];
        for (name, value) in fractions {
            if !(0.0..=1.0).contains(&value) {
                return Err(SeedError::BadFraction { name, value });
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeedDevice {
    pub platform: Platform,
    pub token: String,
    pub app: String,
    /// RFC 3339, seconds, UTC.
    pub updated_at: String,
}

impl SeedDevice {
    pub fn is_dead(&self) -> bool {
        self.token.starts_with(DEAD_PREFIX)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeedUser {
    pub user_id: String,
    pub devices: Vec<SeedDevice>,
    pub push_enabled: bool,
    /// Empty means the attribute is absent (DynamoDB sets cannot be empty).
    pub muted_categories: Vec<String>,
}

/// Totals over a seeded population.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SeedSummary {
    pub users: u64,
    pub ios_devices: u64,
    pub android_devices: u64,
    pub dead_ios: u64,
    pub dead_android: u64,
    pub opted_out: u64,
    pub muted: u64,
}

impl SeedSummary {
    pub fn add(&mut self, user: &SeedUser) {
        self.users += 1;
        if !user.push_enabled {
            self.opted_out += 1;
        }
        if !user.muted_categories.is_empty() {
            self.muted += 1;
        }
        for device in &user.devices {
            let dead = u64::from(device.is_dead());
            match device.platform {
                Platform::Ios => {
                    self.ios_devices += 1;
                    self.dead_ios += dead;
                }
                Platform::Android => {
                    self.android_devices += 1;
                    self.dead_android += dead;
                }
            }
        }
    }
}

/// The user id for a 0-based `index`: `<prefix><index+1, 6 digits>`.
pub fn user_id(index: u64, prefix: &str) -> String {
    format!("{prefix}{:06}", index + 1)
}

/// User number `index` (0-based) of the population `opts` describes.
pub fn user_record(index: u64, opts: &SeedOptions) -> SeedUser {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(mix(opts.seed, index));
    let first = if rng.random_bool(opts.ios_fraction) { Platform::Ios } else { Platform::Android };
    let push_enabled = !rng.random_bool(opts.opted_out_fraction);
    let second = rng.random_bool(opts.second_device_fraction);
    let muted = rng.random_bool(opts.muted_fraction);

    let mut devices = vec![device(&mut rng, first, opts)];
    if second {
        devices.push(device(&mut rng, first.other(), opts));
    }
    let muted_categories = if muted {
        let mut picked: Vec<String> =
            MUTED_CATEGORIES.iter().filter(|_| rng.random_bool(0.5)).map(|c| c.to_string()).collect();
        if picked.is_empty() {
            picked.push(MUTED_CATEGORIES[rng.random_range(0..MUTED_CATEGORIES.len())].to_string());
        }
        picked
    } else {
        Vec::new()
    };
    SeedUser { user_id: user_id(index, &opts.prefix), devices, push_enabled, muted_categories }
}

/// Totals for the whole population, computed without any I/O.
pub fn summarize(opts: &SeedOptions) -> SeedSummary {
    let mut summary = SeedSummary::default();
    for index in 0..opts.users {
        summary.add(&user_record(index, opts));
    }
    summary
}

fn device(rng: &mut Xoshiro256PlusPlus, platform: Platform, opts: &SeedOptions) -> SeedDevice {
    let dead = rng.random_bool(opts.dead_fraction);
    let token = match platform {
        Platform::Ios => apns_token(rng, dead),
        Platform::Android => fcm_token(rng, dead),
    };
    let age = rng.random_range(0..UPDATED_AT_SPAN_SECS);
    let updated_at = chrono::DateTime::from_timestamp(UPDATED_AT_END_EPOCH - age, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    SeedDevice { platform, token, app: APP_ID.to_string(), updated_at }
}

/// 64 lowercase hex characters.
fn apns_token(rng: &mut Xoshiro256PlusPlus, dead: bool) -> String {
    loop {
        let mut token = String::with_capacity(APNS_TOKEN_LEN);
        if dead {
            token.push_str(DEAD_PREFIX);
        }
        while token.len() < APNS_TOKEN_LEN {
            token.push(HEX[rng.random_range(0..HEX.len())] as char);
        }
        // One random token in 65536 starts with "dead": a live device must
        // never be one the sandbox rejects.
        if dead || !(token.starts_with(DEAD_PREFIX) || token.starts_with(NOT_FOR_TOPIC_PREFIX)) {
            return token;
        }
    }
}

/// 152 characters: `<22 of [A-Za-z0-9_-]>:APA91b<123 of [A-Za-z0-9_-]>`.
fn fcm_token(rng: &mut Xoshiro256PlusPlus, dead: bool) -> String {
    loop {
        let mut token = String::with_capacity(FCM_TOKEN_LEN);
        if dead {
            token.push_str(DEAD_PREFIX);
        }
        while token.len() < FCM_INSTANCE_LEN {
            token.push(FCM_ALPHABET[rng.random_range(0..FCM_ALPHABET.len())] as char);
        }
        token.push_str(FCM_MARKER);
        while token.len() < FCM_TOKEN_LEN {
            token.push(FCM_ALPHABET[rng.random_range(0..FCM_ALPHABET.len())] as char);
        }
        if dead || !token.starts_with(DEAD_PREFIX) {
            return token;
        }
    }
}

/// Decorrelates (seed, index) pairs before seeding the per-user generator
/// (SplitMix64's finaliser over a golden-ratio combination).
pub(super) fn mix(seed: u64, index: u64) -> u64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(index.wrapping_add(1).wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(users: u64) -> SeedOptions {
        SeedOptions { users, ..SeedOptions::default() }
    }

    #[test]
    fn same_options_give_the_same_users() {
        let a = opts(50);
        for index in 0..50 {
            assert_eq!(user_record(index, &a), user_record(index, &a));
        }
        let other_seed = SeedOptions { seed: 7, ..opts(50) };
        let differing = (0..50).filter(|&i| user_record(i, &a) != user_record(i, &other_seed)).count();
        assert_eq!(differing, 50, "a new seed must change every user");
    }

    #[test]
    fn ids_are_prefixed_and_padded_from_one() {
        assert_eq!(user_id(0, "u-"), "u-000001");
        assert_eq!(user_id(122, "load-"), "load-000123");
        assert_eq!(user_id(1_234_566, "u-"), "u-1234567");
        assert_eq!(user_record(0, &opts(1)).user_id, "u-000001");
    }

    #[test]
    fn tokens_have_provider_shapes() {
        let o = SeedOptions { dead_fraction: 0.3, ..opts(500) };
        for index in 0..o.users {
            for device in user_record(index, &o).devices {
                assert_eq!(device.app, APP_ID);
                assert!(chrono::DateTime::parse_from_rfc3339(&device.updated_at).is_ok());
                match device.platform {
                    Platform::Ios => {
                        assert_eq!(device.token.len(), APNS_TOKEN_LEN);
                        assert!(device.token.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
                    }
                    Platform::Android => {
                        assert_eq!(device.token.len(), FCM_TOKEN_LEN);
                        assert_eq!(&device.token[FCM_INSTANCE_LEN..FCM_INSTANCE_LEN + 7], FCM_MARKER);
                        let (head, tail) = device.token.split_at(FCM_INSTANCE_LEN);
                        let ok = |s: &str| s.bytes().all(|b| FCM_ALPHABET.contains(&b));
                        assert!(ok(head) && ok(&tail[FCM_MARKER.len()..]), "{}", device.token);
                    }
                }
            }
        }
    }

    #[test]
    fn fractions_are_met() {
        let o = SeedOptions {
            dead_fraction: 0.1,
            opted_out_fraction: 0.25,
            ios_fraction: 0.7,
            muted_fraction: 0.3,
            ..opts(20_000)
        };
        let s = summarize(&o);
        let users = s.users as f64;
        let devices = (s.ios_devices + s.android_devices) as f64;
        let close = |got: f64, want: f64, what: &str| {
            assert!((got - want).abs() < 0.015, "{what}: got {got:.4}, want {want}");
        };
        close(s.opted_out as f64 / users, 0.25, "opted out");
        close(s.muted as f64 / users, 0.3, "muted");
        close((s.dead_ios + s.dead_android) as f64 / devices, 0.1, "dead");
        close(devices / users - 1.0, 0.2, "second devices");
        // First devices are 70% iOS; second devices take the other platform.
        let ios_expected = users * (0.7 + 0.2 * 0.3);
        close(s.ios_devices as f64 / users, ios_expected / users, "ios devices");
    }

    #[test]
    fn extreme_fractions_are_exact() {
        let none = SeedOptions { dead_fraction: 0.0, second_device_fraction: 0.0, ios_fraction: 1.0, ..opts(2_000) };
        let s = summarize(&none);
        assert_eq!((s.dead_ios, s.dead_android, s.opted_out), (0, 0, 0));
        assert_eq!((s.ios_devices, s.android_devices), (2_000, 0));
        let all_dead = SeedOptions { dead_fraction: 1.0, opted_out_fraction: 1.0, ..opts(300) };
        let s = summarize(&all_dead);
        assert_eq!(s.dead_ios + s.dead_android, s.ios_devices + s.android_devices);
        assert_eq!(s.opted_out, 300);
    }

    #[test]
    fn rejects_fractions_outside_zero_to_one() {
        let bad = SeedOptions { dead_fraction: 1.5, ..opts(1) };
        assert!(matches!(bad.validate(), Err(SeedError::BadFraction { name: "dead-fraction", .. })));
        assert!(opts(1).validate().is_ok());
    }
}
