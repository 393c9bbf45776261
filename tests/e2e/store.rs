//! The app's store, seen from the test: the observed `MemoryStore` of the API tests' helpers, so a
//! scenario can find the server-side tokens of its session (`tokens:<session id>`; the session
//! id lives only in the encrypted cookie) and read them back, although the browser never sees
//! them.

use std::sync::Arc;

use serde_json::Value;

use crate::bff;

#[path = "../api/helpers/store.rs"]
#[allow(dead_code)]
mod observed;

pub use observed::ObservedStore as RecordingStore;

/// The app's `SECRET` in the end-to-end runs, so the test can open the tokens it seals.
pub const SECRET: &str = "e2e-only-secret-0123456789abcdef0123456789";

/// What the app keeps under `tokens:<session id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTokens {
    pub key: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_at: Option<i64>,
    /// The session's DPoP key (`DPOP=true`), as the app keeps it.
    pub dpop_key: Option<String>,
}

impl RecordingStore {
    /// A store that opens what the app sealed under [`SECRET`].
    pub fn new() -> Arc<Self> {
        Arc::new(Self::opening_with(bff::Sealer::new(SECRET.as_bytes(), &[])))
    }

    /// The distinct `tokens:` keys written so far, oldest first.
    pub fn token_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = Vec::new();
        for key in self.puts() {
            if key.starts_with("tokens:") && !keys.contains(&key) {
                keys.push(key);
            }
        }
        keys
    }

    /// How many times `key` was written.
    pub fn put_count(&self, key: &str) -> usize {
        self.puts().iter().filter(|k| *k == key).count()
    }

    /// The tokens stored under `key` now, if any; panics on a value that is not the expected
    /// JSON (the test would otherwise pass for the wrong reason).
    pub async fn tokens(&self, key: &str) -> Option<StoredTokens> {
        let json = self.tokens_json(key).await?;
        let value: Value = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("{key} does not hold JSON ({e})"));
        let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_string);
        Some(StoredTokens {
            key: key.to_string(),
            access_token: text("access_token")
                .unwrap_or_else(|| panic!("{key} holds no access_token")),
            refresh_token: text("refresh_token"),
            expires_at: value.get("expires_at").and_then(Value::as_i64),
            dpop_key: text("dpop_key"),
        })
    }

    /// The tokens of the one session that logged in since the store held the `tokens:` keys
    /// `earlier` (from `token_keys`).
    pub async fn new_session_tokens(&self, earlier: &[String]) -> StoredTokens {
        let new: Vec<String> = self
            .token_keys()
            .into_iter()
            .filter(|key| !earlier.contains(key))
            .collect();
        let [key] = new.as_slice() else {
            panic!(
                "expected the tokens of exactly one new session in the store, found {} new keys",
                new.len()
            );
        };
        self.tokens(key)
            .await
            .unwrap_or_else(|| panic!("the new session's tokens were written but are gone"))
    }
}
