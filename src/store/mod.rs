//! Server-side records with an expiry: consumed login `state`s, ended sessions, and the tokens
//! of code-flow sessions. The trait is what a shared store (Redis) implements so that several
//! instances see the same records.

mod memory;

use std::time::Duration;

use rocket::async_trait;

pub use memory::MemoryStore;

/// Records with an expiry, shared by every request (and, with a shared store, every instance).
///
/// What the app relies on: calls may come concurrently; `record_once` checks and claims in one
/// step (of two calls for the same key, one returns `true`); an expired record reads as absent;
/// and a store that cannot tell fails closed, as `MemoryStore` does (a consumed `state` or an
/// ended session is then assumed, never the opposite).
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

    /// Forgets `key` and its value.
    async fn remove(&self, key: &str);
}
