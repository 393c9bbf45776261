//! Server-side records with an expiry: consumed login `state`s and logout-token `jti`s, the
//! tokens of code-flow sessions with their refresh locks, which sessions belong to an IdP
//! session or user, and revocations (sessions ended before their cookie expires). The trait is
//! what every store implements; `FileStore` (the default) and `MemoryStore` serve one
//! instance, `RedisStore` (Redis or Redis Cluster) several.

mod file;
mod local;
pub(crate) mod memory;
mod metered;
mod partition;
mod redis;
mod revocation;
mod revocations;

use std::time::Duration;

use rocket::async_trait;
use sha2::{Digest as _, Sha256};

pub use self::redis::RedisStore;
pub use file::{FileStore, FileStoreError};
pub use memory::MemoryStore;
pub use metered::MeteredStore;
pub use revocation::{Revocation, Revoked, SessionFacts};
pub use revocations::RevocationList;

/// Why a store could not answer. Callers fail closed: a login or token route answers 503,
/// a session that cannot be checked is not accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached or refused the command.
    #[error("the session store is unavailable ({0})")]
    Unavailable(String),
    /// The store did not answer within the configured timeout.
    #[error("the session store did not answer in time")]
    Timeout,
    /// This instance has not been able to synchronise its copy of the revocations for too
    /// long to trust it.
    #[error("the list of ended sessions is out of date ({0})")]
    OutOfSync(String),
}

/// What [`Store::consume`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumption {
    /// The value was unused; it is recorded as used now.
    First,
    /// The value was used before.
    Replayed,
    /// The value was issued before a restart that may have lost records of use (a crash; any
    /// restart of the memory store): it cannot be told from a used one, so it is refused.
    IssuedBeforeRestart,
}

impl Consumption {
    /// What a `record_once`-style claim means: `First` when it was taken now.
    pub fn of_claim(claimed: bool) -> Self {
        match claimed {
            true => Self::First,
            false => Self::Replayed,
        }
    }
}

/// Records with an expiry, shared by every request (and, with a shared store, every instance).
///
/// What the app relies on: calls may come concurrently; `record_once` and `lock` check and
/// claim in one step (of two calls for the same key, one wins); an expired record reads as
/// absent; keys are the app's digests, never a token or session id in the clear; and
/// `is_revoked` answers from memory, without waiting for the network.
#[async_trait]
pub trait Store: Send + Sync {
    /// Records `key` until `ttl` has passed. `Ok(false)` if it was already recorded, so a
    /// single call both checks and claims (consumed `state`s and logout `jti`s use this).
    async fn record_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Records the one-time value `key`, issued at `issued_ms` (Unix milliseconds), as used
    /// until `ttl` has passed (login `state`s use this). Unlike `record_once` the record may
    /// reach the disk after the answer: a store that can lose such records in a crash refuses,
    /// after the crash, every value issued before it, so none can be used twice either way.
    /// The default is `record_once`, which loses nothing.
    async fn consume(
        &self,
        key: &str,
        ttl: Duration,
        issued_ms: i64,
    ) -> Result<Consumption, StoreError> {
        let _ = issued_ms;
        Ok(Consumption::of_claim(self.record_once(key, ttl).await?))
    }

    /// Stores `value` under `key` until `ttl` has passed, replacing any previous value.
    async fn put(&self, key: &str, value: String, ttl: Duration) -> Result<(), StoreError>;

    /// The value under `key`, unless absent or expired.
    async fn get(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Forgets `key` and its value.
    async fn remove(&self, key: &str) -> Result<(), StoreError>;

    /// Adds `member` to the set under `key` until `ttl` has passed (each member expires on its
    /// own), then keeps at most `max_members` live members: those that expire first leave
    /// and are returned, so the caller can end what they stand for.
    async fn add_to_set(
        &self,
        key: &str,
        member: &str,
        ttl: Duration,
        max_members: usize,
    ) -> Result<Vec<String>, StoreError>;

    /// Removes `member` from the set under `key`.
    async fn remove_from_set(&self, key: &str, member: &str) -> Result<(), StoreError>;

    /// The live members of the set under `key` (empty when there is none).
    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError>;

    /// Takes the lock `key` for `owner` for `lease`, unless someone holds it: `Ok(true)` when
    /// taken. A holder that disappears blocks others for at most `lease`.
    async fn lock(&self, key: &str, owner: &str, lease: Duration) -> Result<bool, StoreError>;

    /// Extends `owner`'s lease; `Ok(false)` when it no longer holds the lock.
    async fn renew_lock(&self, key: &str, owner: &str, lease: Duration)
        -> Result<bool, StoreError>;

    /// Releases the lock if `owner` still holds it.
    async fn unlock(&self, key: &str, owner: &str) -> Result<(), StoreError>;

    /// Ends sessions on every instance: recorded until the revocation expires, and passed to
    /// every instance's copy. A durable store has it on disk before answering. A full list
    /// ends more sessions than asked, never fewer (see `RevocationList`).
    async fn revoke(&self, revocation: Revocation) -> Result<(), StoreError>;

    /// Whether the session was revoked, from this instance's copy: no network round trip. An
    /// instance that has lost touch with the shared list for too long answers `OutOfSync`.
    fn is_revoked(&self, session: &SessionFacts<'_>) -> Result<bool, StoreError>;

    /// Whether the store answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Called once the app runs (Rocket's liftoff), inside its async runtime: a shared store
    /// starts following the revocations of other instances here. Calling it again does
    /// nothing. The default does nothing.
    fn start(&self) {}
}

/// A user's or IdP session's identifier within its identity provider: as it is for the default
/// provider, prefixed with the provider's name for the others (their `sub`s and `sid`s may
/// collide with each other's).
pub fn scoped<'a>(idp: Option<&str>, value: &'a str) -> std::borrow::Cow<'a, str> {
    match idp {
        None => std::borrow::Cow::Borrowed(value),
        Some(idp) => std::borrow::Cow::Owned(format!("{idp}\u{1f}{value}")),
    }
}

/// The store's name for a secret or personal value (a session id, `state`, `sid`, `sub`, `jti`):
/// the first 128 bits of its SHA-256, base64url. Unkeyed, so every instance computes the same
/// name whatever its secrets (and a secret rotation changes nothing); the values hashed are
/// unguessable or only identify, never authenticate.
pub fn digest(value: &str) -> String {
    use base64::Engine;
    let hash = Sha256::digest(value.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&hash[..16])
}
