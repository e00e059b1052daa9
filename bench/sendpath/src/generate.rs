//! The benchmark's batch file: a JSONL header, then one user per line with
//! one inline device, taking turns over the chosen platforms: iOS (64 hex),
//! Android (152-character FCM-like token), or a browser (one of the push
//! sandbox's subscriptions, round robin). Deterministic, so every run sends
//! the same bytes.

use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::Value;
use shared::batch::Platform;

/// The notification: an alert with a `{{name}}` placeholder (so every user is
/// rendered, as a personalised campaign is) that renders to about 260 bytes
/// for APNs.
pub const HEADER: &str = r#"{"campaign":"day21-inactive","variant":"B","category":"re-engagement","notification":{"title":"We miss you","body":"See what's new in the app this week, {{name}} - three new stories picked for you","data":{"deeplink":"app://home/stories?src=push&campaign=day21-inactive&v=B"},"sound":"default","badge":1,"collapse_key":"day21","ttl_seconds":86400,"priority":"high","apns":{"topic":"com.example.app","aps":{"thread-id":"day21","mutable-content":1}}}}"#;

/// What to write: the platforms users take turns over, whether the text has
/// a placeholder, and the subscriptions web users get.
#[derive(Debug, Clone)]
pub struct Spec {
    pub users: u64,
    pub platforms: Vec<Platform>,
    /// With `{{name}}` (every user rendered) or the same text written out
    /// (one render shared by all).
    pub placeholders: bool,
    /// `PushSubscription.toJSON()` objects, for web users.
    pub subscriptions: Vec<Value>,
}

#[cfg(test)]
impl Spec {
    /// The file bench/run has always used: half iOS, half Android, personalised.
    pub fn mixed(users: u64) -> Self {
        Spec { users, platforms: vec![Platform::Ios, Platform::Android], placeholders: true, subscriptions: Vec::new() }
    }
}

const NAMES: [&str; 8] = ["Ann", "Bob", "Chidi", "Dana", "Eun-ji", "Farah", "Goran", "Hiro"];
const FCM_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
pub const FCM_TOKEN_LEN: usize = 152;

/// splitmix64: tiny, fast, and good enough for token-shaped noise.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn ios_token(rng: &mut Mix) -> String {
    let mut t = String::with_capacity(64);
    for _ in 0..4 {
        t.push_str(&format!("{:016x}", rng.next()));
    }
    not_dead(t)
}

/// `<11 chars>:APA91b<134 chars>`, the shape of today's registration tokens.
fn fcm_token(rng: &mut Mix) -> String {
    let mut t = String::with_capacity(FCM_TOKEN_LEN);
    let mut push_random = |t: &mut String, n: usize| {
        for _ in 0..n {
            t.push(FCM_ALPHABET[(rng.next() & 63) as usize] as char);
        }
    };
    push_random(&mut t, 11);
    t.push_str(":APA91b");
    push_random(&mut t, FCM_TOKEN_LEN - 18);
    not_dead(t)
}

/// push-sandbox treats tokens starting with `dead` as dead; this file has none.
fn not_dead(mut t: String) -> String {
    if t.starts_with("dead") {
        t.replace_range(0..1, "0");
    }
    t
}

/// Writes the header and `users` entries; returns the file's size in bytes.
pub fn write(out: &mut impl Write, spec: &Spec) -> std::io::Result<u64> {
    let mut rng = Mix(0x005E_ED0F_B47C);
    let mut bytes = 0u64;
    let mut line = String::with_capacity(320);
    // Without the placeholder the text is the same length, so the two files
    // differ only in whether users share one render.
    line.push_str(&if spec.placeholders { HEADER.to_owned() } else { HEADER.replace("{{name}}", "Ann") });
    line.push('\n');
    let platforms = if spec.platforms.is_empty() { &[Platform::Ios][..] } else { &spec.platforms[..] };
    let mut web = 0;
    for i in 0..spec.users {
        out.write_all(line.as_bytes())?;
        bytes += line.len() as u64;
        line.clear();
        let device = match platforms[(i % platforms.len() as u64) as usize] {
            Platform::Ios => format!(r#"{{"platform":"ios","token":"{}"}}"#, ios_token(&mut rng)),
            Platform::Android => format!(r#"{{"platform":"android","token":"{}"}}"#, fcm_token(&mut rng)),
            Platform::Web => {
                let Some(sub) = spec.subscriptions.get(web % spec.subscriptions.len().max(1)) else {
                    return Err(std::io::Error::other("web users need --web-subscriptions"));
                };
                web += 1;
                format!(r#"{{"platform":"web","subscription":{sub}}}"#)
            }
        };
        let name = NAMES[(i % NAMES.len() as u64) as usize];
        line.push_str(&format!(r#"{{"user_id":"u-{i:07}","vars":{{"name":"{name}"}},"devices":[{device}]}}"#));
        line.push('\n');
    }
    out.write_all(line.as_bytes())?;
    bytes += line.len() as u64;
    Ok(bytes)
}

/// Writes the file atomically (a temp file renamed into place), so an
/// interrupted run never leaves a half-written cache behind.
pub async fn write_file(path: &Path, spec: Spec) -> anyhow::Result<u64> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        let tmp = path.with_extension("partial");
        let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
        let bytes = write(&mut out, &spec)?;
        out.flush()?;
        drop(out);
        std::fs::rename(&tmp, &path)?;
        Ok(bytes)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use shared::batch::{Encoding, EntryReader, discover};

    use super::*;

    #[tokio::test]
    async fn every_entry_is_a_valid_user_with_a_live_well_formed_token() {
        let mut buf = Vec::new();
        let bytes = write(&mut buf, &Spec::mixed(1000)).expect("write");
        assert_eq!(bytes, buf.len() as u64);
        let layout = discover(buf.as_slice(), Encoding::Jsonl).await.expect("header");
        let rest = &buf[layout.users_start as usize..];
        let mut reader = EntryReader::new(rest, layout.users_start, Encoding::Jsonl, layout.first_line);
        let (mut ios, mut android) = (0, 0);
        while let Some(item) = reader.next_entry().await.expect("entry") {
            let user = item.entry.expect("valid user");
            let devices = user.devices.expect("inline devices");
            assert_eq!(devices.len(), 1);
            let d = &devices[0];
            assert!(d.platform.token_is_well_formed(&d.token), "{}", d.token);
            assert!(!d.token.starts_with("dead"));
            match d.platform {
                Platform::Ios => {
                    assert_eq!(d.token.len(), 64);
                    ios += 1;
                }
                Platform::Android => {
                    assert_eq!(d.token.len(), FCM_TOKEN_LEN);
                    android += 1;
                }
                Platform::Web => panic!("no web users in the mixed file"),
            }
        }
        assert_eq!((ios, android), (500, 500));
    }

    #[test]
    fn is_deterministic() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write(&mut a, &Spec::mixed(50)).expect("a");
        write(&mut b, &Spec::mixed(50)).expect("b");
        assert_eq!(a, b);
    }

    #[tokio::test]
    async fn web_users_and_a_shared_text() {
        let sub = serde_json::json!({"endpoint": "https://127.0.0.1:9/wp/1", "keys": {
            "p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
            "auth": "BTBZMqHH6r4Tts7J_aSIgg"}});
        let spec = Spec { users: 4, platforms: vec![Platform::Web], placeholders: false, subscriptions: vec![sub] };
        let mut buf = Vec::new();
        write(&mut buf, &spec).expect("write");
        let layout = discover(buf.as_slice(), Encoding::Jsonl).await.expect("header");
        assert!(!layout.header.notification.body.as_deref().unwrap_or("").contains("{{"));
        let rest = &buf[layout.users_start as usize..];
        let mut reader = EntryReader::new(rest, layout.users_start, Encoding::Jsonl, layout.first_line);
        while let Some(item) = reader.next_entry().await.expect("entry") {
            let device = &item.entry.expect("valid user").devices.expect("inline")[0];
            assert_eq!((device.platform, device.token.as_str()), (Platform::Web, "https://127.0.0.1:9/wp/1"));
        }
        let no_subs = Spec { subscriptions: vec![], ..spec };
        assert!(write(&mut Vec::new(), &no_subs).is_err());
    }
}
