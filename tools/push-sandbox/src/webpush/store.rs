//! The subscriptions the sandbox has handed out, and what each has received.
//! Held by `App` (in memory: a restart forgets them, as a browser profile wiped
//! would). Decryption runs outside the locks.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;

use super::headers::{MessageHeaders, Urgency};
use super::keys::{KeyGenerationFailed, UserAgentKeys};
use super::vapid::{PublicKey, Signer};

/// Messages kept per subscription for `GET /webpush/subscriptions/{id}`; older
/// ones are dropped (still counted), so a benchmark cannot exhaust memory.
pub const KEPT_PER_SUBSCRIPTION: usize = 1000;
pub const RESOURCE_PREFIX: &str = "/wp/";

/// Which listener the endpoint URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    Tls,
    Plain,
}

pub struct Subscriptions {
    tls_origin: String,
    plain_origin: String,
    by_id: RwLock<HashMap<String, Arc<Subscription>>>,
}

pub struct Subscription {
    pub id: String,
    /// What VAPID's `aud` must be: the endpoint's scheme, host and port.
    pub origin: String,
    pub keys: UserAgentKeys,
    /// The applicationServerKey of a restricted subscription (RFC 8292 §4).
    pub restricted_to: Option<PublicKey>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    expired: bool,
    kept: VecDeque<Received>,
    total: u64,
    next_message: u64,
}

/// One delivered message, decrypted, with the headers it came with.
#[derive(Clone, Debug, Serialize)]
pub struct Received {
    pub message_id: String,
    pub received_at_ms: u64,
    pub ttl: u64,
    pub urgency: Urgency,
    pub topic: Option<String>,
    /// The plaintext as text when it is UTF-8 (push payloads usually are JSON).
    pub plaintext: Option<String>,
    pub plaintext_base64url: String,
    pub vapid_sub: String,
    pub vapid_key: String,
}

/// The JSON of `GET /webpush/subscriptions/{id}`.
#[derive(Debug, Serialize)]
pub struct SubscriptionView {
    pub id: String,
    pub endpoint: String,
    pub state: &'static str,
    pub received_total: u64,
    pub messages: Vec<Received>,
}

impl Subscriptions {
    pub fn new(tls_origin: String, plain_origin: String) -> Self {
        Self { tls_origin, plain_origin, by_id: RwLock::default() }
    }

    pub fn create(
        &self,
        listener: Listener,
        restricted_to: Option<PublicKey>,
    ) -> Result<Arc<Subscription>, KeyGenerationFailed> {
        let origin = match listener {
            Listener::Tls => &self.tls_origin,
            Listener::Plain => &self.plain_origin,
        };
        let sub = Arc::new(Subscription {
            id: format!("{:032x}", rand::random::<u128>()),
            origin: origin.clone(),
            keys: UserAgentKeys::generate()?,
            restricted_to,
            state: Mutex::default(),
        });
        self.by_id.write().unwrap_or_else(|p| p.into_inner()).insert(sub.id.clone(), sub.clone());
        Ok(sub)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Subscription>> {
        self.by_id.read().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }

    pub fn len(&self) -> usize {
        self.by_id.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Subscription {
    pub fn endpoint(&self) -> String {
        format!("{}{RESOURCE_PREFIX}{}", self.origin, self.id)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_expired(&self) -> bool {
        self.state().expired
    }

    /// From now on the endpoint answers 410 Gone; what was received stays readable.
    pub fn expire(&self) {
        self.state().expired = true;
    }

    /// Records a delivered message and returns its id (for `Location`). Fails if
    /// the subscription expired while the message was being decrypted.
    pub fn record(&self, headers: MessageHeaders, plaintext: Vec<u8>, signer: &Signer, now_ms: u64) -> Option<String> {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut state = self.state();
        if state.expired {
            return None;
        }
        state.next_message += 1;
        let message_id = format!("{}-{}", self.id, state.next_message);
        let received = Received {
            message_id: message_id.clone(),
            received_at_ms: now_ms,
            ttl: headers.ttl,
            urgency: headers.urgency,
            topic: headers.topic,
            plaintext_base64url: URL_SAFE_NO_PAD.encode(&plaintext),
            plaintext: String::from_utf8(plaintext).ok(),
            vapid_sub: signer.sub.clone(),
            vapid_key: URL_SAFE_NO_PAD.encode(signer.key),
        };
        if state.kept.len() == KEPT_PER_SUBSCRIPTION {
            state.kept.pop_front();
        }
        state.kept.push_back(received);
        state.total += 1;
        Some(message_id)
    }

    pub fn view(&self) -> SubscriptionView {
        let state = self.state();
        SubscriptionView {
            id: self.id.clone(),
            endpoint: self.endpoint(),
            state: if state.expired { "expired" } else { "active" },
            received_total: state.total,
            messages: state.kept.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers() -> MessageHeaders {
        MessageHeaders { ttl: 60, urgency: Urgency::High, topic: Some("t1".into()) }
    }

    fn signer() -> Signer {
        Signer { sub: "mailto:a@example.com".into(), key: [4; 65] }
    }

    #[test]
    fn create_record_expire() {
        let subs = Subscriptions::new("https://127.0.0.1:1".into(), "http://127.0.0.1:2".into());
        let s = subs.create(Listener::Tls, None).expect("create");
        assert_eq!(s.endpoint(), format!("https://127.0.0.1:1/wp/{}", s.id));
        assert_eq!(subs.create(Listener::Plain, None).expect("create").origin, "http://127.0.0.1:2");
        assert_eq!(subs.len(), 2);
        let id = s.record(headers(), b"{\"a\":1}".to_vec(), &signer(), 7).expect("active");
        assert_eq!(id, format!("{}-1", s.id));
        s.record(headers(), vec![0xff, 0x00], &signer(), 8).expect("active");
        let view = subs.get(&s.id).expect("known").view();
        assert_eq!((view.state, view.received_total, view.messages.len()), ("active", 2, 2));
        assert_eq!(view.messages[0].plaintext.as_deref(), Some("{\"a\":1}"));
        assert_eq!(view.messages[1].plaintext, None, "not UTF-8: only the base64url form");
        assert_eq!(view.messages[1].plaintext_base64url, "_wA");
        s.expire();
        assert!(s.record(headers(), vec![], &signer(), 9).is_none());
        assert_eq!(s.view().state, "expired");
        assert!(subs.get("unknown").is_none());
    }

    #[test]
    fn keeps_the_latest_messages() {
        let subs = Subscriptions::new("https://h:1".into(), "http://h:2".into());
        let s = subs.create(Listener::Tls, None).expect("create");
        for i in 0..KEPT_PER_SUBSCRIPTION + 5 {
            s.record(headers(), i.to_string().into_bytes(), &signer(), 0).expect("active");
        }
        let view = s.view();
        assert_eq!(view.received_total, (KEPT_PER_SUBSCRIPTION + 5) as u64);
        assert_eq!(view.messages.len(), KEPT_PER_SUBSCRIPTION);
        assert_eq!(view.messages[0].plaintext.as_deref(), Some("5"));
    }
}
