//! Short-lived server-side records: consumed login `state`s and ended sessions. The trait is
//! what a shared store (Redis) implements so that several instances see the same records.

use std::collections::HashMap;
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
}

/// The embedded default: process memory, bounded, expired entries swept as it fills.
pub struct MemoryStore {
    entries: Mutex<HashMap<String, Instant>>,
    capacity: usize,
}

impl MemoryStore {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(100_000)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn record_once(&self, key: &str, ttl: Duration) -> bool {
        let now = Instant::now();
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        if entries.get(key).is_some_and(|expiry| *expiry > now) {
            return false;
        }
        if entries.len() >= self.capacity {
            entries.retain(|_, expiry| *expiry > now);
            if entries.len() >= self.capacity {
                // Full of live records: refusing is safe (the caller rejects), forgetting is not.
                tracing::warn!("memory store is full; refusing to record");
                return false;
            }
        }
        entries.insert(key.to_string(), now + ttl);
        true
    }

    async fn contains(&self, key: &str) -> bool {
        let Ok(entries) = self.entries.lock() else {
            // A poisoned lock cannot tell; treat the record as present (fail closed).
            return true;
        };
        entries
            .get(key)
            .is_some_and(|expiry| *expiry > Instant::now())
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
    async fn a_full_store_sweeps_expired_entries_and_then_refuses() {
        let store = MemoryStore::new(2);
        assert!(store.record_once("a", Duration::from_millis(10)).await);
        assert!(store.record_once("b", Duration::from_secs(60)).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(store.record_once("c", Duration::from_secs(60)).await);
        assert!(!store.record_once("d", Duration::from_secs(60)).await);
    }
}
