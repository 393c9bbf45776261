//! Access and refresh tokens of code-flow sessions, kept on the server in the `Store` under
//! the digest of the session's unguessable id (which only the encrypted cookie carries), and
//! refreshed when they are about to expire: once per session however many requests, on
//! however many instances, ask at the same moment.
//!
//! At rest the tokens are sealed (AES-256-GCM under a key derived from `SECRET`, bound to the
//! session's key), so a shared store never holds a token in the clear.
//!
//! Single flight across instances: a refresh takes the session's lock in the store with a
//! lease, renews the lease while the IdP answers, re-reads the tokens under the lock (another
//! instance may just have refreshed) and writes the new ones before releasing it. Others wait
//! for the lock to go and use the tokens it left. A holder that dies blocks refreshes of that
//! session for one lease at most.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

mod per_api;
mod refresh;

use crate::clock;
use crate::crypto::{PreparedSealer, Sealer};
use crate::oidc::dpop::DpopKey;
use crate::oidc::provider::Provider;
use crate::oidc::providers::IdentityProviders;
use crate::oidc::token_endpoint::{Credential, TokenError, TokenResponse};
use crate::session::Session;
use crate::store::{self, Store, StoreError};

/// A session's tokens as sealed in the store; no `Debug`, so no log can print them.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
struct StoredTokens {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    /// Unix seconds; `None` when the IdP did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
    /// The DPoP key the tokens are bound to (PKCS#8, base64url), sealed with them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dpop_key: Option<String>,
    /// The tokens obtained for APIs' own audiences, by [`crate::config::Audience::key`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    api_tokens: BTreeMap<String, ApiToken>,
    /// The identity provider that issued them, by name (`None`: the default one): they are
    /// refreshed and revoked there, never at another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idp: Option<String>,
}

/// One API audience's access token as sealed in the store; no `Debug`.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
struct ApiToken {
    access_token: String,
    /// Unix seconds; `None` when the IdP did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

/// When a token that lives `expires_in` seconds expires; an absurd lifetime saturates
/// rather than overflowing.
fn expires_at(expires_in: u64) -> i64 {
    clock::now().saturating_add(i64::try_from(expires_in).unwrap_or(i64::MAX))
}

/// Parsed DPoP keys kept at most (a few hundred bytes each); beyond, the cache starts over.
const MAX_CACHED_DPOP_KEYS: usize = 10_000;

/// Why no access token can be had for a session.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenUnavailable {
    /// A session of the implicit flow, or its tokens are gone.
    #[error("this session has no access token (response_type=id_token)")]
    NoTokens,
    /// The refresh failed for good; the session should end.
    #[error("the access token expired and could not be refreshed ({0})")]
    RefreshFailed(String),
    /// The IdP refused a token for an API's audience (its resource or scopes); the session
    /// stays.
    #[error("the identity provider refused a token for the API ({0})")]
    RefusedForApi(String),
    /// The IdP could not be reached; try again later.
    #[error(transparent)]
    Provider(TokenError),
    /// The store could not be read or written; try again later.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for TokenUnavailable {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// The sealer's purpose for tokens at rest: its own key, apart from anything else sealed.
const SEALED_AS: &str = "tokens";

/// Keeps each session's tokens in the store and refreshes them on demand.
pub struct TokenKeeper {
    store: Arc<dyn Store>,
    /// The keys for tokens at rest, derived once rather than on every call.
    sealer: PreparedSealer,
    providers: IdentityProviders,
    refresh_margin: Duration,
    /// How long a request waits for another instance's refresh before giving up.
    wait_limit: Duration,
    /// One lock per session while it refreshes, so concurrent requests of this instance share
    /// one attempt at the store's lock.
    refreshing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Each session's DPoP key, parsed once: loading a P-256 key checks it (~9 µs, as much
    /// as half of signing the proof). A session's key never changes.
    dpop_keys: Mutex<HashMap<String, Arc<DpopKey>>>,
}

/// The store's keys of one session (by the digest of its id); the braces are a Redis Cluster
/// hash tag, so a session's records live on one node.
fn tokens_key(name: &str) -> String {
    format!("tokens:{{{name}}}")
}
fn lock_key(name: &str) -> String {
    format!("refresh-lock:{{{name}}}")
}
impl TokenKeeper {
    /// The client of the provider that issued `tokens`; `None` when it is no longer
    /// configured (then they are neither refreshed nor revoked anywhere else).
    fn provider_of(&self, tokens: &StoredTokens) -> Option<Arc<Provider>> {
        self.providers
            .chosen(tokens.idp.as_deref())
            .map(|p| p.client.clone())
    }

    /// A keeper that refreshes tokens `refresh_margin` before they expire and waits at most
    /// `wait_limit` for a refresh running elsewhere.
    pub fn new(
        store: Arc<dyn Store>,
        sealer: Sealer,
        providers: IdentityProviders,
        refresh_margin: Duration,
        wait_limit: Duration,
    ) -> Self {
        Self {
            store,
            sealer: sealer.prepare(SEALED_AS),
            providers,
            refresh_margin,
            wait_limit,
            refreshing: Mutex::new(HashMap::new()),
            dpop_keys: Mutex::new(HashMap::new()),
        }
    }

    /// The access token of session `name` with the key it is bound to. A stored key that no
    /// longer loads leaves the token unusable: `None`.
    fn credential(&self, name: &str, tokens: &StoredTokens) -> Option<Credential> {
        let dpop = match &tokens.dpop_key {
            None => None,
            Some(stored) => {
                let mut keys = self.dpop_keys.lock().unwrap_or_else(|p| p.into_inner());
                match keys.get(name) {
                    Some(key) => Some(key.clone()),
                    None => {
                        let key = Arc::new(DpopKey::from_stored(stored)?);
                        if keys.len() >= MAX_CACHED_DPOP_KEYS {
                            keys.clear();
                        }
                        keys.insert(name.to_string(), key.clone());
                        Some(key)
                    }
                }
            }
        };
        Some(Credential {
            token: tokens.access_token.clone(),
            dpop,
        })
    }

    /// Keeps the tokens of a fresh login for as long as the session can live.
    pub async fn keep(
        &self,
        session: &Session,
        response: &TokenResponse,
        lifetime: Duration,
    ) -> Result<(), StoreError> {
        let tokens = StoredTokens {
            access_token: response.access_token.clone(),
            refresh_token: response.refresh_token.clone(),
            expires_at: response.expires_in.map(expires_at),
            dpop_key: response.dpop_key.as_ref().map(|key| key.to_stored()),
            api_tokens: BTreeMap::new(),
            idp: session.idp.clone(),
        };
        self.save(&store::digest(&session.id), &tokens, lifetime)
            .await
    }

    async fn save(
        &self,
        name: &str,
        tokens: &StoredTokens,
        lifetime: Duration,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_vec(tokens)
            .map_err(|e| StoreError::Unavailable(format!("tokens not serialisable: {e}")))?;
        let sealed = self.sealer.seal(name.as_bytes(), &json);
        self.store.put(&tokens_key(name), sealed, lifetime).await
    }

    async fn load(&self, name: &str) -> Result<Option<StoredTokens>, StoreError> {
        let Some(sealed) = self.store.get(&tokens_key(name)).await? else {
            return Ok(None);
        };
        // Tokens that do not open (sealed under a secret no longer configured, or altered) or
        // do not parse are as good as none: the session needs a new login.
        let Some(opened) = self.sealer.open(name.as_bytes(), &sealed) else {
            tracing::warn!("stored tokens do not open with the configured secrets");
            return Ok(None);
        };
        Ok(serde_json::from_slice(&opened.plaintext).ok())
    }

    fn is_fresh(&self, tokens: &StoredTokens) -> bool {
        tokens
            .expires_at
            .is_none_or(|at| clock::now() + (self.refresh_margin.as_secs() as i64) < at)
    }

    /// A usable access token, refreshed first if it expires within the margin. A refused
    /// refresh forgets the tokens: the caller ends the session.
    pub async fn access_token(
        &self,
        session_id: &str,
        lifetime: Duration,
    ) -> Result<Credential, TokenUnavailable> {
        let name = store::digest(session_id);
        let tokens = self.load(&name).await?.ok_or(TokenUnavailable::NoTokens)?;
        if self.is_fresh(&tokens) {
            return self
                .credential(&name, &tokens)
                .ok_or(TokenUnavailable::NoTokens);
        }
        self.refresh(&name, None, lifetime).await
    }

    /// A new access token after an API refused `rejected` (revoked before its expiry).
    pub async fn replace_rejected(
        &self,
        session_id: &str,
        rejected: &str,
        lifetime: Duration,
    ) -> Result<Credential, TokenUnavailable> {
        self.refresh(&store::digest(session_id), Some(rejected), lifetime)
            .await
    }

    /// Whether `tokens` already answer the request: a replacement for the rejected token, or
    /// (with none rejected) a token that is still fresh.
    /// Logout: revoke the refresh token (which revokes its access tokens at most IdPs), or the
    /// access token when there is none, then forget both.
    pub async fn revoke_and_forget(&self, session_id: &str) {
        self.forget_and_revoke(&store::digest(session_id)).await;
    }

    /// Forgets and revokes the tokens of the sessions named (the store's names, as the
    /// session sets hold them). Returns how many had tokens.
    pub async fn revoke_named(&self, names: &[String]) -> usize {
        let mut revoked = 0;
        for name in names {
            if self.forget_and_revoke(name).await {
                revoked += 1;
            }
        }
        revoked
    }

    async fn forget_and_revoke(&self, name: &str) -> bool {
        let tokens = match self.load(name).await {
            Ok(Some(tokens)) => tokens,
            Ok(None) => return false,
            Err(error) => {
                tracing::warn!(%error, "tokens not revoked: the store cannot be read");
                return false;
            }
        };
        if let Err(error) = self.store.remove(&tokens_key(name)).await {
            tracing::warn!(%error, "tokens not forgotten: the store cannot be written");
        }
        let (token, hint) = match &tokens.refresh_token {
            Some(refresh) => (refresh.as_str(), "refresh_token"),
            None => (tokens.access_token.as_str(), "access_token"),
        };
        let dpop = self
            .credential(name, &tokens)
            .and_then(|credential| credential.dpop);
        self.dpop_keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        let Some(provider) = self.provider_of(&tokens) else {
            tracing::warn!("tokens not revoked: their identity provider is no longer configured");
            return true;
        };
        match provider.revoke(token, hint, dpop.as_deref()).await {
            Ok(()) => tracing::info!(hint, "token revoked"),
            Err(error) => tracing::warn!(%error, "token revocation failed"),
        }
        true
    }
}
