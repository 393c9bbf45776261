//! Access and refresh tokens of code-flow sessions, kept on the server in the `Store` under
//! the session's unguessable id (which only the encrypted cookie carries), and refreshed when
//! they are about to expire, once per session however many requests ask at the same moment.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock;
use crate::oidc::provider::Provider;
use crate::oidc::tokens::{TokenError, TokenResponse};
use crate::store::Store;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredTokens {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    /// Unix seconds; `None` when the IdP did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

/// Why no access token can be had for a session.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenUnavailable {
    /// A session of the implicit flow, or its tokens are gone.
    #[error("this session has no access token (response_type=id_token)")]
    NoTokens,
    /// The refresh failed for good; the session should end.
    #[error("the access token expired and could not be refreshed ({0})")]
    RefreshFailed(String),
    /// The IdP could not be reached; try again later.
    #[error(transparent)]
    Provider(TokenError),
}

/// Keeps each session's tokens in the store and refreshes them on demand.
pub struct TokenKeeper {
    store: Arc<dyn Store>,
    provider: Arc<Provider>,
    refresh_margin: Duration,
    /// One lock per session while it refreshes, so concurrent requests share one refresh.
    refreshing: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A session's refresh lock, removed from the map when the last request holding it is done,
/// also when a request is dropped while it waits (a client going away).
struct RefreshLock<'a> {
    keeper: &'a TokenKeeper,
    session_id: &'a str,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl<'a> RefreshLock<'a> {
    fn take(keeper: &'a TokenKeeper, session_id: &'a str) -> Self {
        let mut locks = keeper
            .refreshing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let lock = locks.entry(session_id.to_string()).or_default().clone();
        Self {
            keeper,
            session_id,
            lock,
        }
    }
}

impl Drop for RefreshLock<'_> {
    fn drop(&mut self) {
        let mut locks = self
            .keeper
            .refreshing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Two references: the map's and ours. More means another request still waits on it.
        if Arc::strong_count(&self.lock) <= 2 {
            locks.remove(self.session_id);
        }
    }
}

fn key(session_id: &str) -> String {
    format!("tokens:{session_id}")
}

impl TokenKeeper {
    /// A keeper that refreshes tokens `refresh_margin` before they expire.
    pub fn new(store: Arc<dyn Store>, provider: Arc<Provider>, refresh_margin: Duration) -> Self {
        Self {
            store,
            provider,
            refresh_margin,
            refreshing: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps the tokens of a fresh login for as long as the session can live.
    pub async fn keep(
        &self,
        session_id: &str,
        response: &TokenResponse,
        lifetime: Duration,
    ) -> bool {
        let tokens = StoredTokens {
            access_token: response.access_token.clone(),
            refresh_token: response.refresh_token.clone(),
            expires_at: response.expires_in.map(|secs| clock::now() + secs as i64),
        };
        self.save(session_id, &tokens, lifetime).await
    }

    async fn save(&self, session_id: &str, tokens: &StoredTokens, lifetime: Duration) -> bool {
        match serde_json::to_string(tokens) {
            Ok(json) => self.store.put(&key(session_id), json, lifetime).await,
            Err(_) => false,
        }
    }

    async fn load(&self, session_id: &str) -> Option<StoredTokens> {
        let json = self.store.get(&key(session_id)).await?;
        serde_json::from_str(&json).ok()
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
    ) -> Result<String, TokenUnavailable> {
        let tokens = self
            .load(session_id)
            .await
            .ok_or(TokenUnavailable::NoTokens)?;
        if self.is_fresh(&tokens) {
            return Ok(tokens.access_token);
        }
        self.refresh(session_id, None, lifetime).await
    }

    /// A new access token after an API refused `rejected` (revoked before its expiry).
    pub async fn replace_rejected(
        &self,
        session_id: &str,
        rejected: &str,
        lifetime: Duration,
    ) -> Result<String, TokenUnavailable> {
        self.refresh(session_id, Some(rejected), lifetime).await
    }

    /// Refreshes under the session's lock, so concurrent requests share one refresh.
    async fn refresh(
        &self,
        session_id: &str,
        rejected: Option<&str>,
        lifetime: Duration,
    ) -> Result<String, TokenUnavailable> {
        let lock = RefreshLock::take(self, session_id);
        let _refreshing = lock.lock.lock().await;
        self.refresh_locked(session_id, rejected, lifetime).await
    }

    async fn refresh_locked(
        &self,
        session_id: &str,
        rejected: Option<&str>,
        lifetime: Duration,
    ) -> Result<String, TokenUnavailable> {
        // Another request may have refreshed while this one waited for the lock.
        let tokens = self
            .load(session_id)
            .await
            .ok_or(TokenUnavailable::NoTokens)?;
        let replaced = rejected.is_some_and(|r| r != tokens.access_token);
        if replaced || (rejected.is_none() && self.is_fresh(&tokens)) {
            return Ok(tokens.access_token);
        }
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            self.store.remove(&key(session_id)).await;
            return Err(TokenUnavailable::RefreshFailed(
                "no refresh token was issued".into(),
            ));
        };
        match self.provider.refresh(&refresh_token).await {
            Ok(response) => {
                let renewed = StoredTokens {
                    access_token: response.access_token,
                    // RFC 6749 §6: a new refresh token replaces the old one, else keep it.
                    refresh_token: response.refresh_token.or(Some(refresh_token)),
                    expires_at: response.expires_in.map(|secs| clock::now() + secs as i64),
                };
                if !self.save(session_id, &renewed, lifetime).await {
                    // The rotated refresh token would be lost and the old one is spent.
                    self.store.remove(&key(session_id)).await;
                    return Err(TokenUnavailable::RefreshFailed(
                        "the refreshed tokens could not be stored".into(),
                    ));
                }
                tracing::info!("access token refreshed");
                Ok(renewed.access_token)
            }
            Err(TokenError::Provider(error)) => {
                Err(TokenUnavailable::Provider(TokenError::Provider(error)))
            }
            Err(error) => {
                tracing::warn!(%error, "refresh refused; ending the session");
                self.store.remove(&key(session_id)).await;
                Err(TokenUnavailable::RefreshFailed(error.to_string()))
            }
        }
    }

    /// Logout: revoke the refresh token (which revokes its access tokens at most IdPs), or the
    /// access token when there is none, then forget both.
    pub async fn revoke_and_forget(&self, session_id: &str) {
        let Some(tokens) = self.load(session_id).await else {
            return;
        };
        self.store.remove(&key(session_id)).await;
        let (token, hint) = match &tokens.refresh_token {
            Some(refresh) => (refresh.as_str(), "refresh_token"),
            None => (tokens.access_token.as_str(), "access_token"),
        };
        match self.provider.revoke(token, hint).await {
            Ok(()) => tracing::info!(hint, "token revoked at logout"),
            Err(error) => tracing::warn!(%error, "token revocation at logout failed"),
        }
    }
}
