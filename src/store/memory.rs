//! `MemoryStore`, the embedded default: process memory, bounded per kind of record. When a
//! kind is full of live records it drops those closest to expiry rather than refusing new
//! ones: refusing would turn a burst of logins into failed logins, while the dropped records
//! are the ones about to lapse anyway (a consumed `state` whose login attempt ends soonest, a
//! logged-out session whose cookie expires soonest).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rocket::async_trait;

use super::partition::{make_room_in_map, Deadline, Digest, Partition};
use super::{Revocation, RevocationList, SessionFacts, Store, StoreError};

/// The kinds of record the app keeps, by key prefix, each bounded on its own so that a flood
/// of one kind cannot push out the others. Anything else shares a last partition.
const PARTITIONS: &[(&str, usize)] = &[
    ("consumed-state:", 200_000),
    ("tokens:", 50_000),
    ("logout-jti:", 50_000),
];
/// Revocations of each kind (logouts, IdP sessions, users).
const REVOCATIONS: usize = 100_000;
/// Sets (sessions by IdP session and by user) and refresh locks.
const SETS: usize = 100_000;
const LOCKS: usize = 10_000;
const OTHER_CAPACITY: usize = 10_000;

/// The embedded default: process memory, one bounded partition per kind of record.
pub struct MemoryStore {
    partitions: Vec<(&'static str, Mutex<Partition>)>,
    other: Mutex<Partition>,
    hash_key: RandomState,
    epoch: Instant,
    sets: Mutex<HashMap<String, (HashSet<String>, Instant)>>,
    locks: Mutex<HashMap<String, (String, Instant)>>,
    revocations: RevocationList,
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
            sets: Mutex::new(HashMap::new()),
            locks: Mutex::new(HashMap::new()),
            revocations: RevocationList::new(REVOCATIONS),
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

    /// Records `key` (with `value`); `Ok(false)` when `only_if_absent` and it is there.
    fn insert(
        &self,
        key: &str,
        value: Option<Box<str>>,
        ttl: Duration,
        only_if_absent: bool,
    ) -> Result<bool, StoreError> {
        let digest = self.digest(key);
        let mut partition = self.partition(key).lock().map_err(poisoned)?;
        let now = self.now();
        let present = partition.is_live(&digest, now);
        if present && only_if_absent {
            return Ok(false);
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
        Ok(true)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_capacities(PARTITIONS, OTHER_CAPACITY)
    }
}

/// A poisoned lock means a panic elsewhere while it was held; the store cannot vouch for its
/// tables then, and says so (callers fail closed).
fn poisoned<T>(_: T) -> StoreError {
    StoreError::Unavailable("memory store lock poisoned".into())
}

#[async_trait]
impl Store for MemoryStore {
    async fn record_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.insert(key, None, ttl, true)
    }

    async fn put(&self, key: &str, value: String, ttl: Duration) -> Result<(), StoreError> {
        self.insert(key, Some(value.into_boxed_str()), ttl, false)
            .map(|_| ())
    }

    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let digest = self.digest(key);
        let partition = self.partition(key).lock().map_err(poisoned)?;
        if !partition.is_live(&digest, self.now()) {
            return Ok(None);
        }
        Ok(partition.values.get(&digest).map(|v| v.to_string()))
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        let digest = self.digest(key);
        let mut partition = self.partition(key).lock().map_err(poisoned)?;
        partition.deadlines.remove(&digest);
        partition.values.remove(&digest);
        Ok(())
    }

    async fn add_to_set(&self, key: &str, member: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut sets = self.sets.lock().map_err(poisoned)?;
        let deadline = Instant::now() + ttl;
        if !sets.contains_key(key) {
            make_room_in_map(&mut sets, SETS, |(_, d)| *d);
        }
        let (members, until) = sets
            .entry(key.to_string())
            .or_insert_with(|| (HashSet::new(), deadline));
        members.insert(member.to_string());
        *until = (*until).max(deadline);
        Ok(())
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let sets = self.sets.lock().map_err(poisoned)?;
        Ok(match sets.get(key) {
            Some((members, until)) if *until > Instant::now() => members.iter().cloned().collect(),
            _ => Vec::new(),
        })
    }

    async fn lock(&self, key: &str, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        let mut locks = self.locks.lock().map_err(poisoned)?;
        let now = Instant::now();
        match locks.get(key) {
            Some((_, until)) if *until > now => Ok(false),
            _ => {
                make_room_in_map(&mut locks, LOCKS, |(_, d)| *d);
                locks.insert(key.to_string(), (owner.to_string(), now + lease));
                Ok(true)
            }
        }
    }

    async fn renew_lock(
        &self,
        key: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let mut locks = self.locks.lock().map_err(poisoned)?;
        let now = Instant::now();
        match locks.get_mut(key) {
            Some((holder, until)) if holder == owner && *until > now => {
                *until = now + lease;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let mut locks = self.locks.lock().map_err(poisoned)?;
        if locks.get(key).is_some_and(|(holder, _)| holder == owner) {
            locks.remove(key);
        }
        Ok(())
    }

    async fn revoke(&self, revocation: Revocation) -> Result<(), StoreError> {
        self.revocations.insert(&revocation);
        Ok(())
    }

    fn is_revoked(&self, session: &SessionFacts<'_>) -> Result<bool, StoreError> {
        Ok(self.revocations.is_revoked(session))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl MemoryStore {
        /// Whether `key` is recorded and live.
        fn has(&self, key: &str) -> bool {
            let partition = self.partition(key).lock().unwrap();
            partition.is_live(&self.digest(key), self.now())
        }
    }

    #[rocket::async_test]
    async fn a_key_can_be_recorded_once_until_it_expires() {
        let store = MemoryStore::new(10);
        assert!(store
            .record_once("a", Duration::from_millis(50))
            .await
            .unwrap());
        assert!(!store
            .record_once("a", Duration::from_millis(50))
            .await
            .unwrap());
        assert!(store.has("a"));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(!store.has("a"));
        assert!(store
            .record_once("a", Duration::from_secs(1))
            .await
            .unwrap());
    }

    #[rocket::async_test]
    async fn values_can_be_stored_replaced_and_removed() {
        let store = MemoryStore::new(10);
        assert!(store
            .put("k", "one".into(), Duration::from_secs(60))
            .await
            .is_ok());
        assert!(store
            .put("k", "two".into(), Duration::from_secs(60))
            .await
            .is_ok());
        assert_eq!(store.get("k").await.unwrap().as_deref(), Some("two"));
        store.remove("k").await.unwrap();
        assert_eq!(store.get("k").await.unwrap(), None);
        assert!(store
            .put("short", "v".into(), Duration::from_millis(10))
            .await
            .is_ok());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(store.get("short").await.unwrap(), None);
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
            assert!(store
                .record_once(&format!("consumed-state:{i}"), ttl)
                .await
                .unwrap());
        }
        assert!(store
            .record_once("consumed-state:new", Duration::from_secs(60))
            .await
            .unwrap());
        assert!(store.has("consumed-state:new"));
        // 32 / 16 = 2 dropped (plus the threshold's own entry): the three soonest to expire.
        for i in 0..3 {
            assert!(!store.has(&format!("consumed-state:{i}")), "{i}");
        }
        for i in 3..32 {
            assert!(store.has(&format!("consumed-state:{i}")), "{i}");
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
            assert!(store
                .record_once(&key, Duration::from_secs(600))
                .await
                .unwrap());
        }
        let full = table_size(&store);
        // Ten times the capacity again: each eviction leaves room without growing the table.
        for i in 10_000..110_000 {
            let key = format!("consumed-state:{i}");
            assert!(store
                .record_once(&key, Duration::from_secs(600))
                .await
                .unwrap());
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
        assert!(store
            .record_once("logout-jti:s1", Duration::from_secs(60))
            .await
            .unwrap());
        assert!(store
            .put("tokens:s1", "t".into(), Duration::from_secs(60))
            .await
            .is_ok());
        for i in 0..1_000 {
            let key = format!("consumed-state:{i}");
            assert!(store
                .record_once(&key, Duration::from_secs(600))
                .await
                .unwrap());
        }
        assert!(store.has("logout-jti:s1"));
        assert_eq!(store.get("tokens:s1").await.unwrap().as_deref(), Some("t"));
        assert!(store.has("consumed-state:999"));
    }

    #[rocket::async_test]
    async fn sets_collect_members_until_they_expire() {
        let store = MemoryStore::default();
        store
            .add_to_set("set", "a", Duration::from_millis(30))
            .await
            .unwrap();
        store
            .add_to_set("set", "b", Duration::from_millis(30))
            .await
            .unwrap();
        let mut members = store.set_members("set").await.unwrap();
        members.sort();
        assert_eq!(members, ["a", "b"]);
        assert!(store.set_members("other").await.unwrap().is_empty());
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(store.set_members("set").await.unwrap().is_empty());
    }

    #[rocket::async_test]
    async fn a_lock_has_one_holder_until_released_or_its_lease_lapses() {
        let store = MemoryStore::default();
        let lease = Duration::from_millis(40);
        assert!(store.lock("l", "one", lease).await.unwrap());
        assert!(!store.lock("l", "two", lease).await.unwrap());
        assert!(!store.renew_lock("l", "two", lease).await.unwrap());
        assert!(store.renew_lock("l", "one", lease).await.unwrap());
        // Only the holder releases it.
        store.unlock("l", "two").await.unwrap();
        assert!(!store.lock("l", "two", lease).await.unwrap());
        store.unlock("l", "one").await.unwrap();
        assert!(store.lock("l", "two", lease).await.unwrap());
        // A holder that disappears blocks others for one lease at most.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(store.lock("l", "three", lease).await.unwrap());
    }

    #[rocket::async_test]
    async fn a_revoked_session_is_refused_from_memory() {
        let store = MemoryStore::default();
        let now = crate::clock::now();
        let facts = SessionFacts {
            id: "session-1",
            sid: None,
            sub: "alice",
            created: now,
        };
        assert!(!store.is_revoked(&facts).unwrap());
        store
            .revoke(Revocation::session("session-1", now + 60))
            .await
            .unwrap();
        assert!(store.is_revoked(&facts).unwrap());
    }

    #[rocket::async_test]
    async fn expired_entries_are_swept_before_live_ones_are_dropped() {
        let store = MemoryStore::new(2);
        assert!(store
            .record_once("consumed-state:a", Duration::from_millis(10))
            .await
            .unwrap());
        assert!(store
            .record_once("consumed-state:b", Duration::from_secs(60))
            .await
            .unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(store
            .record_once("consumed-state:c", Duration::from_secs(60))
            .await
            .unwrap());
        assert!(store.has("consumed-state:b"));
        assert!(store.has("consumed-state:c"));
    }
}
