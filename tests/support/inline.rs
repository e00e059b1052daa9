//! Batch files whose users carry their devices inline (nothing to seed, so
//! a 100k-user job starts at once), one device each, iOS and Android in
//! turn; and what the sandbox counted for them.

use std::collections::BTreeMap;
use std::ops::Range;

use serde_json::{Value, json};

use crate::Stack;

/// Users `<tag>-<i>`, each with one device whose token only they have.
#[derive(Debug, Clone)]
pub struct Inline {
    pub tag: String,
}

impl Inline {
    /// `tag`: letters, digits and `-` (it goes into the tokens too).
    pub fn new(tag: &str) -> Inline {
        Inline { tag: tag.to_owned() }
    }

    pub fn user(&self, i: u64) -> String {
        format!("{}-{i:06}", self.tag)
    }

    /// User `i`'s device: iOS for even `i`, Android for odd. APNs tokens
    /// start with 1 and FCM tokens with `t`, never the sandbox's `dead` or
    /// `badbad`.
    pub fn device(&self, i: u64) -> (&'static str, String) {
        if i.is_multiple_of(2) {
            ("ios", format!("1{:015x}{i:048x}", fnv(&self.tag) >> 4))
        } else {
            let token = format!("t{}:APA91b_{i:010}_", self.tag);
            ("android", format!("{token:x<120}"))
        }
    }

    pub fn token(&self, i: u64) -> String {
        self.device(i).1
    }

    /// User `i`'s entry.
    pub fn entry(&self, i: u64) -> Value {
        let (platform, token) = self.device(i);
        json!({"user_id": self.user(i), "devices": [{"platform": platform, "token": token}]})
    }

    /// A JSONL file: `header` (`campaign` and `notification` added when
    /// missing), then `users`' entries.
    pub fn jsonl(&self, header: Value, users: Range<u64>) -> Vec<u8> {
        self.file(header, users.map(|i| self.entry(i)))
    }

    /// A JSONL file of `header` and these entries (user ids, objects).
    pub fn file(&self, mut header: Value, entries: impl IntoIterator<Item = Value>) -> Vec<u8> {
        if header.get("campaign").is_none() {
            header["campaign"] = json!(self.tag);
        }
        if header.get("notification").is_none() {
            header["notification"] = json!({"title": "Hello", "body": "Hi"});
        }
        let mut out = header.to_string();
        out.push('\n');
        for entry in entries {
            out.push_str(&entry.to_string());
            out.push('\n');
        }
        out.into_bytes()
    }

    /// How many pushes each of `users`' tokens got, by user index.
    pub fn pushes(&self, deliveries: &BTreeMap<String, u64>, users: Range<u64>) -> BTreeMap<u64, u64> {
        users.map(|i| (i, deliveries.get(&self.token(i)).copied().unwrap_or(0))).collect()
    }
}

/// FNV-1a 64, to give each tag its own tokens.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The sandbox's 200s across APNs and FCM since its last reset.
pub async fn delivered(stack: &Stack) -> anyhow::Result<u64> {
    let stats = stack.sandbox_stats().await?;
    let of = |provider: &str| stats[provider]["delivered"].as_u64().unwrap_or(0);
    Ok(of("apns") + of("fcm"))
}

/// The sandbox's faults injected across APNs and FCM since its last reset.
pub async fn injected(stack: &Stack) -> anyhow::Result<u64> {
    let stats = stack.sandbox_stats().await?;
    let mut total = 0;
    for provider in ["apns", "fcm"] {
        if let Some(counts) = stats[provider]["injected"].as_object() {
            total += counts.values().filter_map(Value::as_u64).sum::<u64>();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_well_formed_and_each_users_own() {
        let a = Inline::new("stop");
        let ios = a.token(2);
        assert!(ios.len() == 64 && ios.bytes().all(|b| b.is_ascii_hexdigit()) && ios.starts_with('1'));
        let android = a.token(3);
        assert!(android.len() == 120 && android.bytes().all(|b| b.is_ascii_alphanumeric() || b"_:-".contains(&b)));
        assert_ne!(a.token(4), Inline::new("other").token(4));
        assert_ne!(a.token(4), a.token(6));
        let text = String::from_utf8(a.jsonl(json!({}), 0..3)).unwrap();
        assert_eq!(text.lines().count(), 4);
        assert!(text.lines().next().unwrap().contains("\"campaign\":\"stop\""));
    }
}
