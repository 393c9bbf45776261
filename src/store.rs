//! Server-side records with an expiry: consumed login `state`s, ended sessions, and the tokens
//! of code-flow sessions. The trait is what a shared store (Redis) implements so that several
//! instances see the same records.
//!
//! The embedded `MemoryStore` is bounded per kind of record. When a kind is full of live
//! records it drops those closest to expiry rather than refusing new ones: refusing would turn
//! a burst of logins into failed logins, while the dropped records are the ones about to lapse
//! anyway (a consumed `state` whose login attempt ends soonest, a logged-out session whose
//! cookie expires soonest).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rocket::async_trait;

#[async_trait]
pub trait Store: Send + Sync {
    /// Records `key` until `ttl` has passed. Returns `false` if it was already recorded, so a
    /// single call both checks and claims (consumed `state`s use this).
    async fn record_once(&self, key: &str, ttl: Duration) -> bool;

    /// Whether `key` is recorded and not yet expired.
    async fn contains(&self, key: &str) -> bool;

    /// Stores `value` under `key` until `ttl` has passed, replacing any previous value.
    /// Returns `false` if it could not be stored.
    async fn put(&self, key: &str, value: String, ttl: Duration) -> bool;

    /// The value under `key`, unless absent or expired.
    async fn get(&self, key: &str) -> Option<String>;

    async fn remove(&self, key: &str);
}

/// The kinds of record the app keeps, by key prefix, each bounded on its own so that a flood
/// of one kind cannot push out the others. Anything else shares a last partition.
const PARTITIONS: &[(&str, usize)] = &[
    ("consumed-state:", 200_000),
    ("ended-session:", 100_000),
    ("tokens:", 50_000),
];
const OTHER_CAPACITY: usize = 10_000;

/// Expired records are swept at most this often (on insert), not only when a partition fills.
const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

/// A key as a 128-bit keyed hash: 16 bytes however long the key, and no session ids or states
/// held in the clear. The hash keys are random per process, so collisions cannot be aimed at.
type Digest = u128;

struct Entry {
    expiry: Instant,
    value: Option<Box<str>>,
}

struct Partition {
    entries: HashMap<Digest, Entry>,
    capacity: usize,
    last_sweep: Instant,
    /// When the last "full" warning was logged, so a flood does not flood the log too.
    last_full_warning: Option<Instant>,
}

impl Partition {
    fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            capacity,
            last_sweep: Instant::now(),
            last_full_warning: None,
        }
    }

    fn live(&self, digest: &Digest, now: Instant) -> Option<&Entry> {
        self.entries.get(digest).filter(|e| e.expiry > now)
    }

    /// Makes room for one more entry: expired ones go first; if the partition is still full,
    /// the sixteenth of live entries closest to expiry (those whose record matters for the
    /// shortest time) is dropped, so new logins keep working under any load.
    fn make_room(&mut self, now: Instant) {
        if now.duration_since(self.last_sweep) >= SWEEP_INTERVAL {
            self.entries.retain(|_, e| e.expiry > now);
            self.last_sweep = now;
        }
        if self.entries.len() < self.capacity {
            return;
        }
        self.entries.retain(|_, e| e.expiry > now);
        self.last_sweep = now;
        if self.entries.len() < self.capacity {
            return;
        }
        let mut expiries: Vec<Instant> = self.entries.values().map(|e| e.expiry).collect();
        let cut = (self.capacity / 16).max(1).min(expiries.len() - 1);
        let (_, threshold, _) = expiries.select_nth_unstable(cut);
        let threshold = *threshold;
        self.entries.retain(|_, e| e.expiry > threshold);
        if self
            .last_full_warning
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(60))
        {
            tracing::warn!(
                capacity = self.capacity,
                "memory store partition full: dropped the records closest to expiry \
                 (raise the capacity or use a shared store)"
            );
            self.last_full_warning = Some(now);
        }
    }
}

/// The embedded default: process memory, one bounded partition per kind of record.
pub struct MemoryStore {
    partitions: Vec<(&'static str, Mutex<Partition>)>,
    other: Mutex<Partition>,
    hash_keys: [RandomState; 2],
}

impl MemoryStore {
    /// Partition capacities as `(key prefix, capacity)`; keys with other prefixes share
    /// `other_capacity`.
    pub fn with_capacities(partitions: &[(&'static str, usize)], other_capacity: usize) -> Self {
        Self {
            partitions: partitions
                .iter()
                .map(|&(prefix, capacity)| (prefix, Mutex::new(Partition::new(capacity.max(1)))))
                .collect(),
            other: Mutex::new(Partition::new(other_capacity.max(1))),
            hash_keys: [RandomState::new(), RandomState::new()],
        }
    }

    /// Every partition (and the shared one) bounded to `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        let partitions: Vec<_> = PARTITIONS.iter().map(|&(p, _)| (p, capacity)).collect();
        Self::with_capacities(&partitions, capacity)
    }

    fn partition(&self, key: &str) -> &Mutex<Partition> {
        self.partitions
            .iter()
            .find(|(prefix, _)| key.starts_with(prefix))
            .map_or(&self.other, |(_, partition)| partition)
    }

    fn digest(&self, key: &str) -> Digest {
        let [high, low] = &self.hash_keys;
        (u128::from(high.hash_one(key)) << 64) | u128::from(low.hash_one(key))
    }

    fn insert(
        &self,
        key: &str,
        value: Option<Box<str>>,
        ttl: Duration,
        only_if_absent: bool,
    ) -> bool {
        let now = Instant::now();
        let digest = self.digest(key);
        let Ok(mut partition) = self.partition(key).lock() else {
            return false;
        };
        let present = partition.live(&digest, now).is_some();
        if present && only_if_absent {
            return false;
        }
        if !present {
            partition.make_room(now);
        }
        partition.entries.insert(
            digest,
            Entry {
                expiry: now + ttl,
                value,
            },
        );
        true
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_capacities(PARTITIONS, OTHER_CAPACITY)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn record_once(&self, key: &str, ttl: Duration) -> bool {
        self.insert(key, None, ttl, true)
    }

    async fn contains(&self, key: &str) -> bool {
        let Ok(partition) = self.partition(key).lock() else {
            // A poisoned lock cannot tell; treat the record as present (fail closed).
            return true;
        };
        // Every authenticated request asks about ended sessions, which are usually none.
        if partition.entries.is_empty() {
            return false;
        }
        partition.live(&self.digest(key), Instant::now()).is_some()
    }

    async fn put(&self, key: &str, value: String, ttl: Duration) -> bool {
        self.insert(key, Some(value.into_boxed_str()), ttl, false)
    }

    async fn get(&self, key: &str) -> Option<String> {
        let digest = self.digest(key);
        let partition = self.partition(key).lock().ok()?;
        partition
            .live(&digest, Instant::now())
            .and_then(|e| e.value.as_deref().map(str::to_string))
    }

    async fn remove(&self, key: &str) {
        let digest = self.digest(key);
        if let Ok(mut partition) = self.partition(key).lock() {
            partition.entries.remove(&digest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rocket::async_test]
    async fn a_key_can_be_recorded_once_until_it_expires() {
        let store = MemoryStore::new(10);
        assert!(store.record_once("a", Duration::from_millis(50)).await);
        assert!(!store.record_once("a", Duration::from_millis(50)).await);
        assert!(store.contains("a").await);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(!store.contains("a").await);
        assert!(store.record_once("a", Duration::from_secs(1)).await);
    }

    #[rocket::async_test]
    async fn values_can_be_stored_replaced_and_removed() {
        let store = MemoryStore::new(10);
        assert!(store.put("k", "one".into(), Duration::from_secs(60)).await);
        assert!(store.put("k", "two".into(), Duration::from_secs(60)).await);
        assert_eq!(store.get("k").await.as_deref(), Some("two"));
        store.remove("k").await;
        assert_eq!(store.get("k").await, None);
        assert!(
            store
                .put("short", "v".into(), Duration::from_millis(10))
                .await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(store.get("short").await, None);
    }

    #[rocket::async_test]
    async fn a_full_partition_drops_the_records_closest_to_expiry() {
        let store = MemoryStore::new(32);
        for i in 0..32u64 {
            let ttl = Duration::from_secs(100 + i);
            assert!(store.record_once(&format!("consumed-state:{i}"), ttl).await);
        }
        assert!(
            store
                .record_once("consumed-state:new", Duration::from_secs(60))
                .await
        );
        assert!(store.contains("consumed-state:new").await);
        // 32 / 16 = 2 dropped (plus the threshold's own entry): the three soonest to expire.
        for i in 0..3 {
            assert!(!store.contains(&format!("consumed-state:{i}")).await, "{i}");
        }
        for i in 3..32 {
            assert!(store.contains(&format!("consumed-state:{i}")).await, "{i}");
        }
    }

    #[rocket::async_test]
    async fn a_flood_of_one_kind_leaves_the_others_alone() {
        let store = MemoryStore::new(8);
        assert!(
            store
                .record_once("ended-session:s1", Duration::from_secs(60))
                .await
        );
        assert!(
            store
                .put("tokens:s1", "t".into(), Duration::from_secs(60))
                .await
        );
        for i in 0..1_000 {
            let key = format!("consumed-state:{i}");
            assert!(store.record_once(&key, Duration::from_secs(600)).await);
        }
        assert!(store.contains("ended-session:s1").await);
        assert_eq!(store.get("tokens:s1").await.as_deref(), Some("t"));
        assert!(store.contains("consumed-state:999").await);
    }

    #[rocket::async_test]
    async fn expired_entries_are_swept_before_live_ones_are_dropped() {
        let store = MemoryStore::new(2);
        assert!(
            store
                .record_once("consumed-state:a", Duration::from_millis(10))
                .await
        );
        assert!(
            store
                .record_once("consumed-state:b", Duration::from_secs(60))
                .await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            store
                .record_once("consumed-state:c", Duration::from_secs(60))
                .await
        );
        assert!(store.contains("consumed-state:b").await);
        assert!(store.contains("consumed-state:c").await);
    }
}
