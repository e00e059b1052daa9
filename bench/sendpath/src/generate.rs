//! The benchmark's batch file: a JSONL header, then one user per line with
//! one inline device, alternating iOS (64 hex) and Android (152-character
//! FCM-like token). Deterministic, so every run sends the same bytes.

use std::io::{BufWriter, Write};
use std::path::Path;

/// The notification: an alert with a `{{name}}` placeholder (so every user is
/// rendered, as a personalised campaign is) that renders to about 260 bytes
/// for APNs.
pub const HEADER: &str = r#"{"campaign":"day21-inactive","variant":"B","category":"re-engagement","notification":{"title":"We miss you","body":"See what's new in the app this week, {{name}} - three new stories picked for you","data":{"deeplink":"app://home/stories?src=push&campaign=day21-inactive&v=B"},"sound":"default","badge":1,"collapse_key":"day21","ttl_seconds":86400,"priority":"high","apns":{"topic":"com.example.app","aps":{"thread-id":"day21","mutable-content":1}}}}"#;

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
pub fn write(out: &mut impl Write, users: u64) -> std::io::Result<u64> {
    let mut rng = Mix(0x005E_ED0F_B47C);
    let mut bytes = 0u64;
    let mut line = String::with_capacity(320);
    line.push_str(HEADER);
    line.push('\n');
    for i in 0..users {
        out.write_all(line.as_bytes())?;
        bytes += line.len() as u64;
        line.clear();
        let (platform, token) =
            if i % 2 == 0 { ("ios", ios_token(&mut rng)) } else { ("android", fcm_token(&mut rng)) };
        let name = NAMES[(i % NAMES.len() as u64) as usize];
        line.push_str(&format!(
            r#"{{"user_id":"u-{i:07}","vars":{{"name":"{name}"}},"devices":[{{"platform":"{platform}","token":"{token}"}}]}}"#
        ));
        line.push('\n');
    }
    out.write_all(line.as_bytes())?;
    bytes += line.len() as u64;
    Ok(bytes)
}

/// Writes the file atomically (a temp file renamed into place), so an
/// interrupted run never leaves a half-written cache behind.
pub async fn write_file(path: &Path, users: u64) -> anyhow::Result<u64> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        let tmp = path.with_extension("partial");
        let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp)?);
        let bytes = write(&mut out, users)?;
        out.flush()?;
        drop(out);
        std::fs::rename(&tmp, &path)?;
        Ok(bytes)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use shared::batch::{Encoding, EntryReader, Platform, discover};

    use super::*;

    #[tokio::test]
    async fn every_entry_is_a_valid_user_with_a_live_well_formed_token() {
        let mut buf = Vec::new();
        let bytes = write(&mut buf, 1000).expect("write");
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
            }
        }
        assert_eq!((ios, android), (500, 500));
    }

    #[test]
    fn is_deterministic() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        write(&mut a, 50).expect("a");
        write(&mut b, 50).expect("b");
        assert_eq!(a, b);
    }
}
