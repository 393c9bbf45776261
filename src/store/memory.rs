//! `MemoryStore`, the embedded default: process memory, bounded per kind of record. When a
//! kind is full of live records it drops those closest to expiry rather than refusing new
//! ones: refusing would turn a burst of logins into failed logins, while the dropped records
//! are the ones about to lapse anyway (a consumed `state` whose login attempt ends soonest, a
//! logged-out session whose cookie expires soonest).

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rocket::async_trait;

use super::Store;

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

/// A key as a 64-bit keyed hash (SipHash under a random per-process key): 8 bytes however long
/// the key, and no session ids or states held in the clear. Collisions cannot be aimed at
/// without the key; a chance one (about one in 10^14 per lookup with 200,000 records) only fails
/// closed: a login refused as already used, or a session taken for logged out.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Digest(u64);

impl Hash for Digest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

/// Milliseconds since the store was created: 8 bytes where an `Instant` takes 16, so a
/// recorded key costs 16 bytes of table.
type Deadline = u64;

/// The digests are already keyed hashes: the tables use them as they are.
#[derive(Default, Clone, Copy)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not reached by `Digest`, which writes one u64; fold anything else in.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Table<V> = HashMap<Digest, V, BuildHasherDefault<PassThrough>>;

struct Partition {
    deadlines: Table<Deadline>,
    /// Values of `put` (tokens); `record_once` keys have a deadline only.
    values: Table<Box<str>>,
    capacity: usize,
    last_sweep: Deadline,
    /// When the last "full" warning was logged, so a flood does not flood the log too.
    last_full_warning: Option<Deadline>,
}

impl Partition {
    fn new(capacity: usize) -> Self {
        Self {
            deadlines: Table::default(),
            values: Table::default(),
            capacity,
            last_sweep: 0,
            last_full_warning: None,
        }
    }

    fn is_live(&self, digest: &Digest, now: Deadline) -> bool {
        self.deadlines.get(digest).is_some_and(|&d| d > now)
    }

    /// Drops expired records in place (the periodic sweep: cheap, no second table).
    fn sweep(&mut self, now: Deadline) {
        self.deadlines.retain(|_, d| *d > now);
        if !self.values.is_empty() {
            let deadlines = &self.deadlines;
            self.values.retain(|k, _| deadlines.contains_key(k));
        }
    }

    /// Drops every record whose deadline is at or before `threshold` into fresh tables. For a
    /// full partition: removing in place there leaves tombstones, and a table near its capacity
    /// then doubles instead of reusing them (the unlimited-rate soak saw 4 → 9 MiB that way).
    fn evict_until(&mut self, threshold: Deadline) {
        let mut deadlines =
            Table::with_capacity_and_hasher(self.deadlines.len(), Default::default());
        deadlines.extend(self.deadlines.drain().filter(|(_, d)| *d > threshold));
        if !self.values.is_empty() {
            let mut values = Table::with_capacity_and_hasher(deadlines.len(), Default::default());
            values.extend(
                self.values
                    .drain()
                    .filter(|(k, _)| deadlines.contains_key(k)),
            );
            self.values = values;
        }
        self.deadlines = deadlines;
    }

    /// Makes room for one more entry: expired ones go first; if the partition is still full,
    /// the sixteenth of live entries closest to expiry (those whose record matters for the
    /// shortest time) is dropped, so new logins keep working under any load.
    fn make_room(&mut self, now: Deadline) {
        let sweep_due = now.saturating_sub(self.last_sweep) >= SWEEP_INTERVAL.as_millis() as u64;
        if sweep_due || self.deadlines.len() >= self.capacity {
            self.sweep(now);
            self.last_sweep = now;
        }
        if self.deadlines.len() < self.capacity {
            return;
        }
        let mut deadlines: Vec<Deadline> = self.deadlines.values().copied().collect();
        let cut = (self.capacity / 16).max(1).min(deadlines.len() - 1);
        let (_, threshold, _) = deadlines.select_nth_unstable(cut);
        let threshold = *threshold;
        self.evict_until(threshold);
        if self
            .last_full_warning
            .is_none_or(|at| now.saturating_sub(at) >= 60_000)
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
    hash_key: RandomState,
    epoch: Instant,
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
            hash_key: RandomState::new(),
            epoch: Instant::now(),
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
        Digest(self.hash_key.hash_one(key))
    }

    fn now(&self) -> Deadline {
        self.epoch.elapsed().as_millis() as u64
    }

    fn insert(
        &self,
        key: &str,
        value: Option<Box<str>>,
        ttl: Duration,
        only_if_absent: bool,
    ) -> bool {
        let digest = self.digest(key);
        let Ok(mut partition) = self.partition(key).lock() else {
            return false;
        };
        let now = self.now();
        let present = partition.is_live(&digest, now);
        if present && only_if_absent {
            return false;
        }
        if !present {
            partition.make_room(now);
        }
        let deadline = now.saturating_add(ttl.as_millis() as u64).max(now + 1);
        partition.deadlines.insert(digest, deadline);
        match value {
            Some(value) => partition.values.insert(digest, value),
            None => partition.values.remove(&digest),
        };
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
        if partition.deadlines.is_empty() {
            return false;
        }
        partition.is_live(&self.digest(key), self.now())
    }

    async fn put(&self, key: &str, value: String, ttl: Duration) -> bool {
        self.insert(key, Some(value.into_boxed_str()), ttl, false)
    }

    async fn get(&self, key: &str) -> Option<String> {
        let digest = self.digest(key);
        let partition = self.partition(key).lock().ok()?;
        if !partition.is_live(&digest, self.now()) {
            return None;
        }
        partition.values.get(&digest).map(|v| v.to_string())
    }

    async fn remove(&self, key: &str) {
        let digest = self.digest(key);
        if let Ok(mut partition) = self.partition(key).lock() {
            partition.deadlines.remove(&digest);
            partition.values.remove(&digest);
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

    #[test]
    fn a_recorded_key_takes_16_bytes_of_table() {
        assert_eq!(std::mem::size_of::<(Digest, Deadline)>(), 16);
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
    async fn a_partition_kept_full_does_not_outgrow_its_table() {
        let store = MemoryStore::new(10_000);
        let table_size = |store: &MemoryStore| {
            let partition = store.partitions[0].1.lock().unwrap();
            partition.deadlines.capacity()
        };
        for i in 0..10_000 {
            let key = format!("consumed-state:{i}");
            assert!(store.record_once(&key, Duration::from_secs(600)).await);
        }
        let full = table_size(&store);
        // Ten times the capacity again: each eviction leaves room without growing the table.
        for i in 10_000..110_000 {
            let key = format!("consumed-state:{i}");
            assert!(store.record_once(&key, Duration::from_secs(600)).await);
        }
        assert!(
            table_size(&store) <= full,
            "{} > {full}",
            table_size(&store)
        );
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
