//! A store that counts and times every operation of the store it wraps (metrics by kind,
//! outcome and latency), whichever store that is.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rocket::async_trait;

use super::{Consumption, Revocation, SessionFacts, Store, StoreError};
use crate::metrics;

/// Wraps a store; answers exactly as it does.
pub struct MeteredStore {
    inner: Arc<dyn Store>,
}

impl MeteredStore {
    /// Counts the operations of `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner }
    }
}

/// Records one operation's outcome and time, and passes its result on.
fn counted<T>(
    operation: &'static str,
    started: Instant,
    result: Result<T, StoreError>,
) -> Result<T, StoreError> {
    let outcome = match &result {
        Ok(_) => "ok",
        Err(StoreError::Timeout) => "timeout",
        Err(_) => "error",
    };
    metrics::store_operation(operation, outcome, started.elapsed());
    result
}

#[async_trait]
impl Store for MeteredStore {
    async fn record_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let started = Instant::now();
        counted(
            "record_once",
            started,
            self.inner.record_once(key, ttl).await,
        )
    }

    async fn consume(
        &self,
        key: &str,
        ttl: Duration,
        issued_ms: i64,
    ) -> Result<Consumption, StoreError> {
        let started = Instant::now();
        // Counted as the `record_once` it stands for, so dashboards keep one name for it.
        counted(
            "record_once",
            started,
            self.inner.consume(key, ttl, issued_ms).await,
        )
    }

    async fn put(&self, key: &str, value: String, ttl: Duration) -> Result<(), StoreError> {
        let started = Instant::now();
        counted("put", started, self.inner.put(key, value, ttl).await)
    }

    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let started = Instant::now();
        counted("get", started, self.inner.get(key).await)
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        let started = Instant::now();
        counted("remove", started, self.inner.remove(key).await)
    }

    async fn add_to_set(
        &self,
        key: &str,
        member: &str,
        ttl: Duration,
        max_members: usize,
    ) -> Result<Vec<String>, StoreError> {
        let started = Instant::now();
        counted(
            "add_to_set",
            started,
            self.inner.add_to_set(key, member, ttl, max_members).await,
        )
    }

    async fn remove_from_set(&self, key: &str, member: &str) -> Result<(), StoreError> {
        let started = Instant::now();
        counted(
            "remove_from_set",
            started,
            self.inner.remove_from_set(key, member).await,
        )
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let started = Instant::now();
        counted("set_members", started, self.inner.set_members(key).await)
    }

    async fn lock(&self, key: &str, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        let started = Instant::now();
        counted("lock", started, self.inner.lock(key, owner, lease).await)
    }

    async fn renew_lock(
        &self,
        key: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let started = Instant::now();
        counted(
            "renew_lock",
            started,
            self.inner.renew_lock(key, owner, lease).await,
        )
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let started = Instant::now();
        counted("unlock", started, self.inner.unlock(key, owner).await)
    }

    async fn revoke(&self, revocation: Revocation) -> Result<(), StoreError> {
        let started = Instant::now();
        counted("revoke", started, self.inner.revoke(revocation).await)
    }

    /// Not counted: it answers from memory on every authenticated request.
    fn is_revoked(&self, session: &SessionFacts<'_>) -> Result<bool, StoreError> {
        self.inner.is_revoked(session)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let started = Instant::now();
        counted("ping", started, self.inner.ping().await)
    }

    fn start(&self) {
        self.inner.start();
    }
}
