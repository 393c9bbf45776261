//! `MemoryStore` (`STORE=memory`): process memory, for tests and throw-away runs; nothing
//! survives a restart. Bounded per kind of record; a kind full of live records refuses new
//! ones (the caller answers 503) rather than drop one: a dropped consumed `state` could be
//! replayed and a dropped token set is another user's lost session. Revocations are bounded
//! as every store's are: a full list ends more sessions, never fewer.

use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rocket::async_trait;

use super::local::{until_ms, LocalLocks, LocalSets};
use super::partition::{Deadline, Digest, Partition};
use super::{Consumption, Revocation, RevocationList, SessionFacts, Store, StoreError};

/// The default bound of the list of ended sessions (`ENDED_SESSIONS_CAPACITY`).
pub const DEFAULT_ENDED_SESSIONS: usize = 1_000_000;

/// The kinds of record the app keeps, by key prefix, each bounded on its own so that a flood
/// of one kind cannot push out the others. Anything else shares a last partition.
const PARTITIONS: &[(&str, usize)] = &[
    ("consumed-state:", 200_000),
    ("tokens:", 50_000),
    ("logout-jti:", 50_000),
];
/// Sets (sessions by IdP session and by user) and refresh locks.
const SETS: usize = 100_000;
const LOCKS: usize = 10_000;
const OTHER_CAPACITY: usize = 10_000;

/// Process memory, one bounded partition per kind of record.
pub struct MemoryStore {
    partitions: Vec<(&'static str, Mutex<Partition>)>,
    other: Mutex<Partition>,
    hash_key: RandomState,
    epoch: Instant,
    /// When this store began (Unix milliseconds): it knows no use of an older one-time value.
    started_ms: i64,
    sets: LocalSets,
    locks: LocalLocks,
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
            started_ms: crate::clock::now_ms(),
            sets: LocalSets::new(SETS),
            locks: LocalLocks::new(LOCKS),
            revocations: RevocationList::new(DEFAULT_ENDED_SESSIONS),
        }
    }

    /// Room for `capacity` ended sessions (`ENDED_SESSIONS_CAPACITY`).
    pub fn with_ended_sessions_capacity(mut self, capacity: usize) -> Self {
        self.revocations = RevocationList::new(capacity);
        self
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
        if !present && !partition.has_room(now) {
            return Err(full());
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

fn full() -> StoreError {
    StoreError::Unavailable("the memory store is full".into())
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

    async fn consume(
        &self,
        key: &str,
        ttl: Duration,
        issued_ms: i64,
    ) -> Result<Consumption, StoreError> {
        // Issued before this process: its use, if any, was forgotten with the last one.
        if issued_ms < self.started_ms {
            return Ok(Consumption::IssuedBeforeRestart);
        }
        self.insert(key, None, ttl, true).map(Consumption::of_claim)
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

    async fn add_to_set(
        &self,
        key: &str,
        member: &str,
        ttl: Duration,
        max_members: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.sets.add(key, member, until_ms(ttl), max_members)
    }

    async fn remove_from_set(&self, key: &str, member: &str) -> Result<(), StoreError> {
        self.sets.remove(key, member)
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        self.sets.members(key)
    }

    async fn lock(&self, key: &str, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        self.locks.lock(key, owner, lease)
    }

    async fn renew_lock(
        &self,
        key: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        self.locks.renew(key, owner, lease)
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        self.locks.unlock(key, owner)
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
#[path = "memory_tests.rs"]
mod tests;
