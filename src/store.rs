//! Server-side records with an expiry: consumed login `state`s, ended sessions, and the tokens
//! of code-flow sessions. The trait is what a shared store (Redis) implements so that several
//! instances see the same records.

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

    /// Stores `value` under `key` until `ttl` has passed, replacing any previous value.
    /// Returns `false` if it could not be stored.
    async fn put(&self, key: &str, value: String, ttl: Duration) -> bool;

    /// The value under `key`, unless absent or expired.
    async fn get(&self, key: &str) -> Option<String>;

    async fn remove(&self, key: &str);
}

struct Entry {
    expiry: Instant,
    value: Option<String>,
}

/// The embedded default: process memory, bounded, expired entries swept as it fills.
pub struct MemoryStore {
    entries: Mutex<HashMap<String, Entry>>,
    capacity: usize,
    /// Expired entries are swept at most this often on insert, not only when the map is full.
    last_sweep: Mutex<Instant>,
}

const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

impl MemoryStore {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity,
            last_sweep: Mutex::new(Instant::now()),
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl MemoryStore {
    /// Inserts unless the store is full of live entries (then refuses: safe for the callers,
    /// which reject, while forgetting a record would not be).
    fn insert(&self, key: &str, entry: Entry, only_if_absent: bool) -> bool {
        let now = Instant::now();
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        if let Ok(mut last_sweep) = self.last_sweep.lock() {
            if now.duration_since(*last_sweep) >= SWEEP_INTERVAL {
                entries.retain(|_, e| e.expiry > now);
                *last_sweep = now;
            }
        }
        let present = entries.get(key).is_some_and(|e| e.expiry > now);
        if present && only_if_absent {
            return false;
        }
        if !present && entries.len() >= self.capacity {
            entries.retain(|_, e| e.expiry > now);
            if entries.len() >= self.capacity {
                tracing::warn!("memory store is full; refusing to record");
                return false;
            }
        }
        entries.insert(key.to_string(), entry);
        true
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn record_once(&self, key: &str, ttl: Duration) -> bool {
        let entry = Entry {
            expiry: Instant::now() + ttl,
            value: None,
        };
        self.insert(key, entry, true)
    }

    async fn contains(&self, key: &str) -> bool {
        let Ok(entries) = self.entries.lock() else {
            // A poisoned lock cannot tell; treat the record as present (fail closed).
            return true;
        };
        entries.get(key).is_some_and(|e| e.expiry > Instant::now())
    }

    async fn put(&self, key: &str, value: String, ttl: Duration) -> bool {
        let entry = Entry {
            expiry: Instant::now() + ttl,
            value: Some(value),
        };
        self.insert(key, entry, false)
    }

    async fn get(&self, key: &str) -> Option<String> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(key)
            .filter(|e| e.expiry > Instant::now())
            .and_then(|e| e.value.clone())
    }

    async fn remove(&self, key: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
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
    async fn a_full_store_sweeps_expired_entries_and_then_refuses() {
        let store = MemoryStore::new(2);
        assert!(store.record_once("a", Duration::from_millis(10)).await);
        assert!(store.record_once("b", Duration::from_secs(60)).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(store.record_once("c", Duration::from_secs(60)).await);
        assert!(!store.record_once("d", Duration::from_secs(60)).await);
    }
}
