//! Counters for `/stats`. Every worker thread adds to its own cache-line-aligned
//! shard, so counting costs one uncontended atomic add; reads sum the shards.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

use crate::dead::fnv1a64;
use crate::reasons::{ApnsReason, FcmCode, WebPushReason};

#[derive(Clone, Copy, Debug)]
pub enum Counter {
    ApnsRequests,
    ApnsDelivered,
    ApnsRejected(ApnsReason),
    ApnsInjected(ApnsReason),
    FcmRequests,
    FcmDelivered,
    FcmRejected(FcmCode),
    FcmInjected(FcmCode),
    WebPushRequests,
    WebPushDelivered,
    WebPushRejected(WebPushReason),
    WebPushInjected(WebPushReason),
    OauthIssued,
    OauthRejected,
    Connections,
    Goaways,
}

const A: usize = ApnsReason::COUNT;
const F: usize = FcmCode::COUNT;
const W: usize = WebPushReason::COUNT;
const APNS_REJ: usize = 2;
const APNS_INJ: usize = APNS_REJ + A;
const FCM_REQ: usize = APNS_INJ + A;
const FCM_REJ: usize = FCM_REQ + 2;
const FCM_INJ: usize = FCM_REJ + F;
const WP_REQ: usize = FCM_INJ + F;
const WP_REJ: usize = WP_REQ + 2;
const WP_INJ: usize = WP_REJ + W;
const OAUTH: usize = WP_INJ + W;
const CONN: usize = OAUTH + 2;
const SLOTS: usize = CONN + 2;

impl Counter {
    const fn slot(self) -> usize {
        match self {
            Self::ApnsRequests => 0,
            Self::ApnsDelivered => 1,
            Self::ApnsRejected(r) => APNS_REJ + r.index(),
            Self::ApnsInjected(r) => APNS_INJ + r.index(),
            Self::FcmRequests => FCM_REQ,
            Self::FcmDelivered => FCM_REQ + 1,
            Self::FcmRejected(c) => FCM_REJ + c.index(),
            Self::FcmInjected(c) => FCM_INJ + c.index(),
            Self::WebPushRequests => WP_REQ,
            Self::WebPushDelivered => WP_REQ + 1,
            Self::WebPushRejected(r) => WP_REJ + r.index(),
            Self::WebPushInjected(r) => WP_INJ + r.index(),
            Self::OauthIssued => OAUTH,
            Self::OauthRejected => OAUTH + 1,
            Self::Connections => CONN,
            Self::Goaways => CONN + 1,
        }
    }
}

const SHARDS: usize = 32;
const DELIVERY_SHARDS: usize = 16;

#[repr(align(128))]
struct Shard([AtomicU64; SLOTS]);

impl Default for Shard {
    fn default() -> Self {
        Self(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

thread_local! {
    static SHARD_INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
}
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

fn shard_index() -> usize {
    SHARD_INDEX.with(|cell| {
        let mut i = cell.get();
        if i == usize::MAX {
            i = NEXT_SHARD.fetch_add(1, Relaxed) % SHARDS;
            cell.set(i);
        }
        i
    })
}

/// Per-token delivery counts, one lock per shard of the token space.
type DeliveryShard = Mutex<HashMap<Box<str>, u64>>;

pub struct Stats {
    shards: Box<[Shard]>,
    deliveries: Box<[DeliveryShard]>,
    /// The last APNs payload each token was delivered (while tracking).
    payloads: Mutex<HashMap<Box<str>, bytes::Bytes>>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            deliveries: (0..DELIVERY_SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            payloads: Mutex::new(HashMap::new()),
        }
    }
}

/// One provider's part of `/stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderStats {
    pub requests: u64,
    pub delivered: u64,
    pub rejected: BTreeMap<String, u64>,
    pub injected: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OauthStats {
    pub tokens_issued: u64,
    pub rejected: u64,
}

/// The JSON of `GET /stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    pub apns: ProviderStats,
    pub fcm: ProviderStats,
    /// Absent from the JSON of sandboxes older than Web Push.
    #[serde(default)]
    pub webpush: ProviderStats,
    pub oauth: OauthStats,
    pub connections: u64,
    pub goaways: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<BTreeMap<String, u64>>,
}

impl Stats {
    #[inline]
    pub fn add(&self, counter: Counter) {
        self.shards[shard_index()].0[counter.slot()].fetch_add(1, Relaxed);
    }

    fn total(&self, slot: usize) -> u64 {
        self.shards.iter().map(|s| s.0[slot].load(Relaxed)).sum()
    }

    pub fn get(&self, counter: Counter) -> u64 {
        self.total(counter.slot())
    }

    /// Per-token count of 200 responses; only called while tracking is on.
    pub fn record_delivery(&self, token: &str) {
        let shard = (fnv1a64(token.as_bytes()) as usize) % DELIVERY_SHARDS;
        let mut map = self.deliveries[shard].lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match map.get_mut(token) {
            Some(n) => *n += 1,
            None => {
                map.insert(token.into(), 1);
            }
        }
    }

    /// Keeps the payload a token was delivered, for `GET /payloads/<token>`
    /// (a test reads what a user got); only called while tracking is on.
    pub fn record_payload(&self, token: &str, payload: bytes::Bytes) {
        self.payloads.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(token.into(), payload);
    }

    pub fn payload(&self, token: &str) -> Option<bytes::Bytes> {
        self.payloads.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(token).cloned()
    }

    /// Zeroes everything. Requests in flight while resetting may land on either side.
    pub fn reset(&self) {
        for shard in self.shards.iter() {
            for slot in &shard.0 {
                slot.store(0, Relaxed);
            }
        }
        for map in self.deliveries.iter() {
            map.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
        }
        self.payloads.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
    }

    pub fn snapshot(&self, with_deliveries: bool) -> StatsSnapshot {
        let nonzero = |base: usize, names: &mut dyn Iterator<Item = &'static str>| {
            names
                .enumerate()
                .filter_map(|(i, name)| {
                    let n = self.total(base + i);
                    (n > 0).then(|| (name.to_owned(), n))
                })
                .collect::<BTreeMap<_, _>>()
        };
        let apns_names = || ApnsReason::ALL.iter().map(|r| r.as_str());
        let fcm_names = || FcmCode::ALL.iter().map(|c| c.stats_key());
        let webpush_names = || WebPushReason::ALL.iter().map(|r| r.as_str());
        let deliveries = with_deliveries.then(|| {
            let mut all = BTreeMap::new();
            for map in self.deliveries.iter() {
                let map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                all.extend(map.iter().map(|(k, v)| (k.to_string(), *v)));
            }
            all
        });
        StatsSnapshot {
            apns: ProviderStats {
                requests: self.get(Counter::ApnsRequests),
                delivered: self.get(Counter::ApnsDelivered),
                rejected: nonzero(APNS_REJ, &mut apns_names()),
                injected: nonzero(APNS_INJ, &mut apns_names()),
            },
            fcm: ProviderStats {
                requests: self.get(Counter::FcmRequests),
                delivered: self.get(Counter::FcmDelivered),
                rejected: nonzero(FCM_REJ, &mut fcm_names()),
                injected: nonzero(FCM_INJ, &mut fcm_names()),
            },
            webpush: ProviderStats {
                requests: self.get(Counter::WebPushRequests),
                delivered: self.get(Counter::WebPushDelivered),
                rejected: nonzero(WP_REJ, &mut webpush_names()),
                injected: nonzero(WP_INJ, &mut webpush_names()),
            },
            oauth: OauthStats {
                tokens_issued: self.get(Counter::OauthIssued),
                rejected: self.get(Counter::OauthRejected),
            },
            connections: self.get(Counter::Connections),
            goaways: self.get(Counter::Goaways),
            deliveries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_across_threads_and_resets() {
        let stats = std::sync::Arc::new(Stats::default());
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let s = stats.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        s.add(Counter::ApnsRequests);
                    }
                    s.add(Counter::ApnsRejected(ApnsReason::Unregistered));
                    s.add(Counter::FcmInjected(FcmCode::QuotaExceeded));
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
        let snap = stats.snapshot(false);
        assert_eq!(snap.apns.requests, 4000);
        assert_eq!(snap.apns.rejected.get("Unregistered"), Some(&4));
        assert_eq!(snap.apns.rejected.len(), 1, "only non-zero keys");
        assert_eq!(snap.fcm.injected.get("QUOTA_EXCEEDED"), Some(&4));
        assert!(snap.deliveries.is_none());
        stats.reset();
        assert_eq!(stats.snapshot(false), StatsSnapshot::default());
    }

    #[test]
    fn the_last_payload_per_token_is_kept_until_a_reset() {
        let stats = Stats::default();
        stats.record_payload("tok-a", bytes::Bytes::from_static(b"{\"n\":1}"));
        stats.record_payload("tok-a", bytes::Bytes::from_static(b"{\"n\":2}"));
        assert_eq!(stats.payload("tok-a").as_deref(), Some(&b"{\"n\":2}"[..]));
        assert_eq!(stats.payload("tok-b"), None);
        stats.reset();
        assert_eq!(stats.payload("tok-a"), None);
    }

    #[test]
    fn snapshot_json_has_the_documented_shape() {
        let stats = Stats::default();
        stats.record_delivery("tok-a");
        stats.record_delivery("tok-a");
        stats.add(Counter::Goaways);
        stats.add(Counter::WebPushRequests);
        stats.add(Counter::WebPushRejected(WebPushReason::Gone));
        let v = serde_json::to_value(stats.snapshot(true)).expect("json");
        assert_eq!(
            v,
            serde_json::json!({
                "apns": {"requests": 0, "delivered": 0, "rejected": {}, "injected": {}},
                "fcm": {"requests": 0, "delivered": 0, "rejected": {}, "injected": {}},
                "webpush": {"requests": 1, "delivered": 0, "rejected": {"Gone": 1}, "injected": {}},
                "oauth": {"tokens_issued": 0, "rejected": 0},
                "connections": 0, "goaways": 1,
                "deliveries": {"tok-a": 2}
            })
        );
        let v = serde_json::to_value(stats.snapshot(false)).expect("json");
        assert!(v.get("deliveries").is_none());
    }
}
