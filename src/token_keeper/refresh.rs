//! Single-flight refresh: one refresh per session at a time, on this instance (a local lock)
//! and across instances (the store's lock with a lease, renewed while the IdP answers).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{expires_at, lock_key, tokens_key, ApiToken, TokenKeeper, TokenUnavailable};
use crate::config::Audience;
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
    /// Refreshes the session's own token under the session's lock (see [`Self::refresh_for`]).
    pub(super) async fn refresh(
        &self,
        name: &str,
        rejected: Option<&str>,
        lifetime: Duration,
    ) -> Result<Credential, TokenUnavailable> {
        self.refresh_for(name, None, rejected, lifetime).await
    }

    /// Obtains a new token for `audience` (none: the session's own) under the session's lock,
    /// here and in the store, so concurrent requests on every instance share one refresh and
    /// a rotated refresh token is never used twice.
    pub(super) async fn refresh_for(
        &self,
        name: &str,
        audience: Option<&Audience>,
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
            if self.is_current(&tokens, audience, rejected) {
                return self
                    .credential_for(name, &tokens, audience)
                    .ok_or(TokenUnavailable::NoTokens);
            }
            if self.store.lock(&lock_key(name), &owner, LEASE).await? {
                let result = self
                    .refresh_holding_lock(name, &owner, audience, rejected, lifetime)
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
        audience: Option<&Audience>,
        rejected: Option<&str>,
        lifetime: Duration,
    ) -> Result<Credential, TokenUnavailable> {
        // The holder before us may have refreshed between our read and our lock.
        let tokens = self.load(name).await?.ok_or(TokenUnavailable::NoTokens)?;
        if self.is_current(&tokens, audience, rejected) {
            return self
                .credential_for(name, &tokens, audience)
                .ok_or(TokenUnavailable::NoTokens);
        }
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            // An API's token cannot be had, but the session's own token still serves.
            if audience.is_some() {
                return Err(TokenUnavailable::RefusedForApi(
                    "no refresh token was issued to obtain it with".into(),
                ));
            }
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
        let Some(provider) = self.provider_of(&tokens) else {
            self.store.remove(&tokens_key(name)).await?;
            return Err(TokenUnavailable::RefreshFailed(
                "the identity provider that issued the tokens is no longer configured".into(),
            ));
        };
        let refreshed = {
            let call = provider.refresh(&refresh_token, dpop, audience);
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
                let mut renewed = tokens.clone();
                // RFC 6749 §6: a new refresh token replaces the old one, else keep it.
                renewed.refresh_token = response.refresh_token.or(Some(refresh_token));
                let expires = response.expires_in.map(expires_at);
                match audience {
                    None => {
                        renewed.access_token = response.access_token;
                        renewed.expires_at = expires;
                    }
                    Some(audience) => {
                        let token = ApiToken {
                            access_token: response.access_token,
                            expires_at: expires,
                        };
                        renewed.api_tokens.insert(audience.key(), token);
                    }
                }
                if let Err(error) = self.save(name, &renewed, lifetime).await {
                    // The rotated refresh token is lost and the old one is spent.
                    let _ = self.store.remove(&tokens_key(name)).await;
                    return Err(TokenUnavailable::RefreshFailed(format!(
                        "the refreshed tokens could not be stored: {error}"
                    )));
                }
                metrics::token_refresh("refreshed");
                match audience {
                    None => tracing::info!("access token refreshed"),
                    Some(_) => tracing::info!("access token for an API's audience obtained"),
                }
                self.credential_for(name, &renewed, audience)
                    .ok_or(TokenUnavailable::NoTokens)
            }
            Err(TokenError::Provider(error)) => {
                metrics::token_refresh("failed");
                Err(TokenUnavailable::Provider(TokenError::Provider(error)))
            }
            // Only a dead refresh token (`invalid_grant`) ends the session; the IdP refusing
            // an API's resource or scopes is that API's configuration, not the session's.
            Err(error) if audience.is_some() && !is_invalid_grant(&error) => {
                metrics::token_refresh("rejected");
                tracing::warn!(%error, "no token for an API's audience");
                Err(TokenUnavailable::RefusedForApi(error.to_string()))
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

/// Whether the IdP said the refresh token itself is no good (RFC 6749 §5.2).
fn is_invalid_grant(error: &TokenError) -> bool {
    matches!(error, TokenError::Refused { error, .. } if error == "invalid_grant")
}
