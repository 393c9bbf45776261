//! The app's store as a test sees it: the embedded `MemoryStore`, noting each key written and
//! each record claimed, and able to fail every call on demand (a store that went down).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::bff::Sealer;
use super::bff::{MemoryStore, Revocation, SessionFacts, Store, StoreError};

#[derive(Default)]
pub struct ObservedStore {
    pub inner: MemoryStore,
    /// Every key passed to `put`, in order, with repeats.
    puts: Mutex<Vec<String>>,
    /// Every `record_once` key with its time to live.
    claims: Mutex<Vec<(String, Duration)>>,
    failing: AtomicBool,
    /// Opens the sealed tokens (the app's sealer, from the same secret).
    sealer: Option<Sealer>,
}

impl ObservedStore {
    /// A store whose sealed tokens the test can read with `sealer`.
    pub fn opening_with(sealer: Sealer) -> Self {
        Self {
            sealer: Some(sealer),
            ..Self::default()
        }
    }

    /// The JSON the app sealed under `key` (`tokens:{<session digest>}`), opened as the app
    /// opens it; `None` when absent. Panics when it does not open: the test would otherwise
    /// pass for the wrong reason.
    pub async fn tokens_json(&self, key: &str) -> Option<String> {
        let sealed = self.inner.get(key).await.ok()??;
        let name = key.strip_prefix("tokens:{")?.strip_suffix('}')?;
        let sealer = self
            .sealer
            .as_ref()
            .expect("a store made with opening_with");
        let json = sealer
            .open("tokens", name.as_bytes(), &sealed)
            .unwrap_or_else(|| panic!("{key} does not open with the app's secret"));
        assert!(
            !sealed.contains("access_token"),
            "{key} holds tokens in the clear"
        );
        Some(String::from_utf8(json).expect("UTF-8 JSON"))
    }

    pub fn puts(&self) -> Vec<String> {
        self.puts.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn claims(&self) -> Vec<(String, Duration)> {
        self.claims
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// From now on every call fails (`true`) or works again (`false`).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn up(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable("the test stopped the store".into()))
        } else {
            Ok(())
        }
    }
}

#[rocket::async_trait]
impl Store for ObservedStore {
    async fn record_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.up()?;
        self.claims
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((key.to_string(), ttl));
        self.inner.record_once(key, ttl).await
    }

    async fn put(&self, key: &str, value: String, ttl: Duration) -> Result<(), StoreError> {
        self.up()?;
        self.puts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(key.to_string());
        self.inner.put(key, value, ttl).await
    }

    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.up()?;
        self.inner.get(key).await
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.up()?;
        self.inner.remove(key).await
    }

    async fn add_to_set(
        &self,
        key: &str,
        member: &str,
        ttl: Duration,
        max_members: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.up()?;
        self.inner.add_to_set(key, member, ttl, max_members).await
    }

    async fn remove_from_set(&self, key: &str, member: &str) -> Result<(), StoreError> {
        self.up()?;
        self.inner.remove_from_set(key, member).await
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        self.up()?;
        self.inner.set_members(key).await
    }

    async fn lock(&self, key: &str, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        self.up()?;
        self.inner.lock(key, owner, lease).await
    }

    async fn renew_lock(
        &self,
        key: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        self.up()?;
        self.inner.renew_lock(key, owner, lease).await
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        self.up()?;
        self.inner.unlock(key, owner).await
    }

    async fn revoke(&self, revocation: Revocation) -> Result<(), StoreError> {
        self.up()?;
        self.inner.revoke(revocation).await
    }

    fn is_revoked(&self, session: &SessionFacts<'_>) -> Result<bool, StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::OutOfSync("the test stopped the store".into()));
        }
        self.inner.is_revoked(session)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.up()?;
        self.inner.ping().await
    }
}
