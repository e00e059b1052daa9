//! The ownership protocol over the in-memory adapter: transfers, every crash
//! point, and two registrations of one token interleaved step by step in
//! many orders. (tests/devices_api.rs runs the same over dynalite.)

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use super::memory::MemoryDevices;
use super::model::{Registered, Registration};
use super::ownership::{self, Added, Claim, ClaimStore, Removal, TokenKey};
use super::ports::{DeviceError, DeviceLookup, DevicePrune, DeviceRegister, DeviceUnregister};
use crate::batch::{Device, Platform};
use crate::devices::fixtures::at;

const TOKEN: &str = "fcm-instance:APA91b_shared-phone-token";

fn reg(secs: i64) -> Registration {
    Registration { device: Device::new(Platform::Android, TOKEN), app: None, at: at(secs) }
}

/// The users whose lists hold `TOKEN`, as send-batch's lookup sees them.
async fn holders(store: &MemoryDevices, users: &[&str]) -> Vec<String> {
    let ids: Vec<String> = users.iter().map(|u| u.to_string()).collect();
    let found = store.lookup(&ids).await.unwrap();
    let mut out: Vec<String> =
        found.into_iter().filter(|(_, u)| u.devices.iter().any(|d| d.token == TOKEN)).map(|(id, _)| id).collect();
    out.sort();
    out
}

/// Steps of the protocol through here: after `budget` of them every step
/// fails, as if the function died there; each step yields first, a number
/// of times drawn from `seed`, so that two registrations interleave.
struct Steps<'a> {
    inner: &'a MemoryDevices,
    budget: AtomicI64,
    seed: AtomicU64,
    /// Orders the steps of every `Steps` sharing it.
    clock: &'a AtomicU64,
    /// When this one's last step ran, and its last claim that landed.
    last_step: AtomicU64,
    last_claim: AtomicU64,
}

impl<'a> Steps<'a> {
    fn new(inner: &'a MemoryDevices, budget: i64, seed: u64, clock: &'a AtomicU64) -> Self {
        Self {
            inner,
            budget: AtomicI64::new(budget),
            seed: AtomicU64::new(seed),
            clock,
            last_step: AtomicU64::new(0),
            last_claim: AtomicU64::new(0),
        }
    }

    async fn step(&self) -> Result<(), DeviceError> {
        let seed = self.seed.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        for _ in 0..(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 61) {
            tokio::task::yield_now().await;
        }
        if self.budget.fetch_sub(1, Ordering::Relaxed) <= 0 {
            return Err(DeviceError::Unprocessed { table: "crashed".into() });
        }
        // The memory adapter acts without yielding, so a step runs at the
        // time it is given here.
        self.last_step.store(self.clock.fetch_add(1, Ordering::Relaxed) + 1, Ordering::Relaxed);
        Ok(())
    }
}

impl ClaimStore for Steps<'_> {
    async fn read_claim(&self, key: &TokenKey) -> Result<Option<Claim>, DeviceError> {
        self.step().await?;
        self.inner.read_claim(key).await
    }
    async fn write_claim(&self, key: &TokenKey, seen: Option<u64>, next: &Claim) -> Result<bool, DeviceError> {
        self.step().await?;
        let landed = self.inner.write_claim(key, seen, next).await?;
        if landed {
            self.last_claim.store(self.last_step.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        Ok(landed)
    }
    async fn settle_claim(&self, key: &TokenKey, version: u64) -> Result<(), DeviceError> {
        self.step().await?;
        self.inner.settle_claim(key, version).await
    }
    async fn drop_claim(&self, key: &TokenKey, version: u64) -> Result<(), DeviceError> {
        self.step().await?;
        self.inner.drop_claim(key, version).await
    }
    async fn fence(&self, user_id: &str, key: &TokenKey, version: u64) -> Result<(), DeviceError> {
        self.step().await?;
        self.inner.fence(user_id, key, version).await
    }
    async fn remove_device(&self, user_id: &str, token: &str, at: Option<&str>) -> Result<Removal, DeviceError> {
        self.step().await?;
        self.inner.remove_device(user_id, token, at).await
    }
    async fn add_device(&self, user: &str, r: &Registration, max: usize, version: u64) -> Result<Added, DeviceError> {
        self.step().await?;
        self.inner.add_device(user, r, max, version).await
    }
}

#[tokio::test]
async fn registering_a_token_takes_it_from_its_previous_owner() {
    let store = MemoryDevices::default();
    store.register("a", &reg(1), 10).await.unwrap();
    assert_eq!(store.owner(Platform::Android, TOKEN).as_deref(), Some("a"));
    let taken = store.register("b", &reg(2), 10).await.unwrap();
    assert_eq!(taken, Registered { created: true, evicted: vec![] });
    assert_eq!(holders(&store, &["a", "b"]).await, ["b"]);
    assert_eq!(store.owner(Platform::Android, TOKEN).as_deref(), Some("b"));
    // And back: A's fence is below A's new claim.
    store.register("a", &reg(3), 10).await.unwrap();
    assert_eq!(holders(&store, &["a", "b"]).await, ["a"]);
    // Refreshing one's own token takes nothing from anyone.
    assert!(!store.register("a", &reg(4), 10).await.unwrap().created);
    assert_eq!(holders(&store, &["a", "b"]).await, ["a"]);
}

#[tokio::test]
async fn unregister_and_prune_drop_the_token_item_only_for_its_owner() {
    let store = MemoryDevices::default();
    store.register("a", &reg(1), 10).await.unwrap();
    // B never held it: nothing of A's changes.
    assert!(!store.unregister("b", TOKEN).await.unwrap());
    assert_eq!(store.owner(Platform::Android, TOKEN).as_deref(), Some("a"));
    assert!(store.unregister("a", TOKEN).await.unwrap());
    assert_eq!(store.owner(Platform::Android, TOKEN), None);
    // Registered again after the unregister fenced A: A's new claim is above it.
    store.register("a", &reg(2), 10).await.unwrap();
    assert_eq!(holders(&store, &["a"]).await, ["a"]);

    assert!(store.prune("a", TOKEN).await.unwrap());
    assert_eq!(store.owner(Platform::Android, TOKEN), None);
    store.register("b", &reg(3), 10).await.unwrap();
    assert!(!store.prune("a", TOKEN).await.unwrap());
    assert_eq!(store.owner(Platform::Android, TOKEN).as_deref(), Some("b"));
}

#[tokio::test]
async fn an_add_behind_a_later_claim_is_refused_and_answered_as_claimed() {
    let store = MemoryDevices::default();
    // A claimed at version 1000, then B's claim passed by and fenced A.
    let key = TokenKey::new(Platform::Android, TOKEN);
    let a = Claim { owner: "a".into(), version: 1000, releasing: Default::default() };
    assert!(store.write_claim(&key, None, &a).await.unwrap());
    store.register("b", &reg(2), 10).await.unwrap();
    assert_eq!(store.add_device("a", &reg(1), 10, 1000).await.unwrap(), Added::Fenced);
    assert_eq!(holders(&store, &["a", "b"]).await, ["b"]);
}

/// A registration of B's that dies after each of its steps in turn, A
/// holding the token before: the token is never in both lists, and B's retry
/// (the app's, on the error) finishes the transfer.
#[tokio::test]
async fn every_crash_point_of_a_transfer_is_safe_and_a_retry_finishes_it() {
    for budget in 0..12 {
        let store = MemoryDevices::default();
        store.register("a", &reg(1), 10).await.unwrap();
        let clock = AtomicU64::new(0);
        let crashing = Steps::new(&store, budget, 0, &clock);
        let outcome = ownership::register(&crashing, "b", &reg(2), 10).await;
        let held = holders(&store, &["a", "b"]).await;
        assert!(held.len() <= 1, "crash after {budget} steps: held by {held:?}");
        if outcome.is_ok() {
            assert_eq!(held, ["b"], "{budget}");
            continue;
        }
        store.register("b", &reg(3), 10).await.unwrap();
        assert_eq!(holders(&store, &["a", "b"]).await, ["b"], "retry after a crash at step {budget}");
    }
}

/// Two users register one token at once, their steps interleaved in many
/// orders, with and without one of them dying part-way: it never ends in
/// two lists; without a crash it ends in exactly the token item owner's,
/// whose registration succeeded, and the other is answered `Claimed` unless
/// it had finished before the owner's claim landed.
#[tokio::test]
async fn concurrent_registrations_of_one_token_end_in_one_list() {
    let mut outcomes = [0usize; 2];
    for round in 0..600u64 {
        let store = MemoryDevices::default();
        if round % 3 == 0 {
            store.register("c", &reg(1), 10).await.unwrap();
        }
        let crash_at = if round % 4 == 3 { (round / 4 % 10) as i64 } else { i64::MAX };
        let clock = AtomicU64::new(0);
        let a = Steps::new(&store, crash_at, round, &clock);
        let b = Steps::new(&store, i64::MAX, round.wrapping_mul(7919) + 1, &clock);
        let (reg_a, reg_b) = (reg(2), reg(3));
        let (ra, rb) = tokio::join!(ownership::register(&a, "a", &reg_a, 10), ownership::register(&b, "b", &reg_b, 10));
        let held = holders(&store, &["a", "b", "c"]).await;
        assert!(held.len() <= 1, "round {round}: held by {held:?} ({ra:?}, {rb:?})");
        if crash_at != i64::MAX {
            continue;
        }
        let owner = store.owner(Platform::Android, TOKEN).expect("an owner");
        assert_eq!(held, std::slice::from_ref(&owner), "round {round}");
        let (winner, loser, loser_result) = if owner == "a" { (&a, &b, &rb) } else { (&b, &a, &ra) };
        assert!(if owner == "a" { ra.is_ok() } else { rb.is_ok() }, "round {round}: the owner's registration failed");
        match loser_result {
            Ok(_) => {
                let (done, taken) =
                    (loser.last_step.load(Ordering::Relaxed), winner.last_claim.load(Ordering::Relaxed));
                assert!(
                    done < taken,
                    "round {round}: answered 201 though the token was taken at {taken}, before {done}"
                );
                outcomes[0] += 1;
            }
            Err(DeviceError::Claimed { .. }) => outcomes[1] += 1,
            Err(e) => panic!("round {round}: {e}"),
        }
    }
    // The interleavings reached both endings: some losers were answered 409,
    // some had finished before.
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}
