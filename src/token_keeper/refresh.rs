//! Single-flight refresh: one refresh per session at a time, on this instance (a local lock)
//! and across instances (the store's lock with a lease, renewed while the IdP answers).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{expires_at, lock_key, tokens_key, StoredTokens, TokenKeeper, TokenUnavailable};
use crate::crypto::random_token;
use crate::metrics;
use crate::oidc::token_endpoint::{Credential, TokenError};
use crate::store::StoreError;

/// How long a refresh may hold a session's lock without renewing it.
const LEASE: Duration = Duration::from_secs(10);
/// How often a waiting request looks whether the refresh is done.
const POLL: Duration = Duration::from_millis(25);

/// A session's local refresh lock, removed from the map when the last request holding it is
/// done, also when a request is dropped while it waits (a client going away).
struct LocalLock<'a> {
    keeper: &'a TokenKeeper,
    name: &'a str,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl<'a> LocalLock<'a> {
    fn take(keeper: &'a TokenKeeper, name: &'a str) -> Self {
        let mut locks = keeper
            .refreshing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let lock = locks.entry(name.to_string()).or_default().clone();
        Self { keeper, name, lock }
    }
}

impl Drop for LocalLock<'_> {
    fn drop(&mut self) {
        let mut locks = self
            .keeper
            .refreshing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Two references: the map's and ours. More means another request still waits on it.
        if Arc::strong_count(&self.lock) <= 2 {
            locks.remove(self.name);
        }
    }
}

impl TokenKeeper {
    fn settled(&self, tokens: &StoredTokens, rejected: Option<&str>) -> bool {
        match rejected {
            Some(rejected) => rejected != tokens.access_token,
            None => self.is_fresh(tokens),
        }
    }

    /// Refreshes under the session's lock, here and in the store, so concurrent requests on
    /// every instance share one refresh.
    pub(super) async fn refresh(
        &self,
        name: &str,
        rejected: Option<&str>,
        lifetime: Duration,
    ) -> Result<Credential, TokenUnavailable> {
        let local = LocalLock::take(self, name);
        let _refreshing = local.lock.lock().await;
        let owner = random_token();
        let deadline = Instant::now() + self.wait_limit;
        loop {
            // Another request may have refreshed while this one waited.
            let tokens = self.load(name).await?.ok_or(TokenUnavailable::NoTokens)?;
            if self.settled(&tokens, rejected) {
                return self
                    .credential(name, &tokens)
                    .ok_or(TokenUnavailable::NoTokens);
            }
            if self.store.lock(&lock_key(name), &owner, LEASE).await? {
                let result = self
                    .refresh_holding_lock(name, &owner, rejected, lifetime)
                    .await;
                if let Err(error) = self.store.unlock(&lock_key(name), &owner).await {
                    tracing::warn!(%error, "refresh lock not released; it lapses with its lease");
                }
                return result;
            }
            if Instant::now() >= deadline {
                return Err(TokenUnavailable::Store(StoreError::Timeout));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn refresh_holding_lock(
        &self,
        name: &str,
        owner: &str,
        rejected: Option<&str>,
        lifetime: Duration,
    ) -> Result<Credential, TokenUnavailable> {
        // The holder before us may have refreshed between our read and our lock.
        let tokens = self.load(name).await?.ok_or(TokenUnavailable::NoTokens)?;
        if self.settled(&tokens, rejected) {
            return self
                .credential(name, &tokens)
                .ok_or(TokenUnavailable::NoTokens);
        }
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            self.store.remove(&tokens_key(name)).await?;
            return Err(TokenUnavailable::RefreshFailed(
                "no refresh token was issued".into(),
            ));
        };
        // Refreshed with the key the tokens are bound to; one that no longer loads cannot be.
        let dpop = match self.credential(name, &tokens) {
            Some(credential) => credential.dpop,
            None => {
                self.store.remove(&tokens_key(name)).await?;
                return Err(TokenUnavailable::RefreshFailed(
                    "the DPoP key does not load".into(),
                ));
            }
        };
        let refreshed = {
            let call = self.provider.refresh(&refresh_token, dpop);
            tokio::pin!(call);
            let mut renew = tokio::time::interval(LEASE / 3);
            renew.tick().await;
            loop {
                tokio::select! {
                    result = &mut call => break result,
                    _ = renew.tick() => {
                        if !matches!(self.store.renew_lock(&lock_key(name), owner, LEASE).await, Ok(true)) {
                            tracing::warn!("refresh lock lost while the identity provider answers");
                        }
                    }
                }
            }
        };
        match refreshed {
            Ok(response) => {
                let renewed = StoredTokens {
                    access_token: response.access_token,
                    // RFC 6749 §6: a new refresh token replaces the old one, else keep it.
                    refresh_token: response.refresh_token.or(Some(refresh_token)),
                    expires_at: response.expires_in.map(expires_at),
                    dpop_key: tokens.dpop_key.clone(),
                };
                if let Err(error) = self.save(name, &renewed, lifetime).await {
                    // The rotated refresh token is lost and the old one is spent.
                    let _ = self.store.remove(&tokens_key(name)).await;
                    return Err(TokenUnavailable::RefreshFailed(format!(
                        "the refreshed tokens could not be stored: {error}"
                    )));
                }
                metrics::token_refresh("refreshed");
                tracing::info!("access token refreshed");
                self.credential(name, &renewed)
                    .ok_or(TokenUnavailable::NoTokens)
            }
            Err(TokenError::Provider(error)) => {
                metrics::token_refresh("failed");
                Err(TokenUnavailable::Provider(TokenError::Provider(error)))
            }
            Err(error) => {
                metrics::token_refresh("rejected");
                tracing::warn!(%error, "refresh refused; ending the session");
                self.store.remove(&tokens_key(name)).await?;
                Err(TokenUnavailable::RefreshFailed(error.to_string()))
            }
        }
    }
}
