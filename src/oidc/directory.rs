//! What the identity provider publishes, as this app knows it: its discovery document and
//! signing keys, fetched with timeouts, cached, and refetched when a token names a key we have
//! not seen; and the validation of the tokens it signs with them.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openidconnect::reqwest;
use tokio::sync::Mutex;
use url::Url;

use super::discovery::ProviderMetadata;
use super::fetch::{self, ProviderError};
use super::key_refetch::KeyFetches;
use super::keys::KeySet;
use super::logout_token::{LogoutToken, LogoutTokenError, LogoutTokenValidator};
use super::validate::{Expected, IdTokenError, IdTokenValidator, ValidationRules, VerifiedIdToken};
use crate::metrics;

/// Failed discovery is retried at most this often, so a down IdP is not hammered by `/login`.
const DISCOVERY_RETRY_INTERVAL: Duration = Duration::from_secs(1);
/// A successful discovery is refreshed after this long (endpoints, algorithms, clock drift).
const DISCOVERY_REFRESH_INTERVAL: Duration = Duration::from_secs(3600);
/// A failed refresh keeps the previous discovery and is retried after this long.
const DISCOVERY_REFRESH_RETRY: Duration = Duration::from_secs(60);

/// Why an ID token was not accepted: the IdP's keys could not be had, or the token breaks a rule.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ValidationError {
    /// The IdP could not be asked for its discovery document or keys.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The token itself is not acceptable.
    #[error(transparent)]
    IdToken(#[from] IdTokenError),
}

/// Why a logout token was not accepted: the IdP's keys could not be had, or the token breaks
/// a rule.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LogoutValidationError {
    /// The IdP could not be asked for its discovery document or keys.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The token itself is not acceptable.
    #[error(transparent)]
    LogoutToken(#[from] LogoutTokenError),
}

/// Everything known about the IdP at one moment. Replaced whole when keys change.
pub struct Snapshot {
    /// The discovery document.
    pub metadata: Arc<ProviderMetadata>,
    validator: IdTokenValidator,
    logout_validator: LogoutTokenValidator,
    rules: ValidationRules,
    key_generation: u64,
    /// When discovery should run again.
    refresh_due: Instant,
}

/// The identity provider's discovery document and keys, cached and shared by every request.
pub struct Directory {
    http: reqwest::Client,
    configured_issuer: String,
    /// The audience ID tokens must name.
    client_id: String,
    clock_skew: Duration,
    current: RwLock<Option<Arc<Snapshot>>>,
    /// When discovery last failed, and why: repeated until the retry interval has passed.
    last_discovery_failure: Mutex<Option<(Instant, ProviderError)>>,
    key_fetch: Mutex<KeyFetches>,
}

impl Directory {
    /// The directory of `issuer`, not yet discovered: the first `snapshot()` does that.
    pub fn new(http: reqwest::Client, issuer: &str, client_id: &str, clock_skew: Duration) -> Self {
        Self {
            http,
            configured_issuer: issuer.to_string(),
            client_id: client_id.to_string(),
            clock_skew,
            current: RwLock::new(None),
            last_discovery_failure: Mutex::new(None),
            key_fetch: Mutex::new(KeyFetches::default()),
        }
    }

    /// The cached snapshot, discovering the IdP first if that has not succeeded yet.
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, ProviderError> {
        if let Some(snapshot) = self.cached() {
            if Instant::now() >= snapshot.refresh_due {
                return Ok(self.refresh_discovery(snapshot).await);
            }
            return Ok(snapshot);
        }
        let mut last_failure = self.last_discovery_failure.lock().await;
        if let Some(snapshot) = self.cached() {
            return Ok(snapshot);
        }
        if let Some((at, error)) = last_failure.as_ref() {
            if at.elapsed() < DISCOVERY_RETRY_INTERVAL {
                return Err(error.clone());
            }
        }
        let snapshot = match self.discover().await {
            Ok(snapshot) => Arc::new(snapshot),
            Err(error) => {
                *last_failure = Some((Instant::now(), error.clone()));
                return Err(error);
            }
        };
        *last_failure = None;
        self.store(snapshot.clone());
        tracing::info!(issuer = %snapshot.rules.issuer, "identity provider discovered");
        Ok(snapshot)
    }

    /// Whether the IdP answers now (readiness): its discovery document is fetched and its
    /// issuer checked, without replacing the cached snapshot. Discovers first if that has
    /// not succeeded yet.
    pub async fn probe(&self) -> Result<(), ProviderError> {
        if self.cached().is_none() {
            return self.snapshot().await.map(|_| ());
        }
        let url = discovery_url(&self.configured_issuer)?;
        let (metadata, _): (ProviderMetadata, _) = fetch::fetch_json(&self.http, url).await?;
        if !same_issuer(&metadata.issuer, &self.configured_issuer) {
            return Err(ProviderError::IssuerMismatch {
                configured: self.configured_issuer.clone(),
                found: metadata.issuer,
            });
        }
        Ok(())
    }

    /// Rediscovers a stale snapshot. One caller does it while the others keep the old one; a
    /// failure keeps the old one too (existing logins must not break because the IdP blinked).
    async fn refresh_discovery(&self, stale: Arc<Snapshot>) -> Arc<Snapshot> {
        let Ok(_refreshing) = self.last_discovery_failure.try_lock() else {
            return stale;
        };
        match self.discover().await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                self.store(fresh.clone());
                fresh
            }
            Err(error) => {
                tracing::warn!(%error, "identity provider rediscovery failed; keeping the previous discovery");
                let retry_later = Arc::new(Snapshot {
                    metadata: stale.metadata.clone(),
                    validator: stale.validator.clone(),
                    logout_validator: stale.logout_validator.clone(),
                    rules: stale.rules.clone(),
                    key_generation: stale.key_generation,
                    refresh_due: Instant::now() + DISCOVERY_REFRESH_RETRY,
                });
                self.store(retry_later.clone());
                retry_later
            }
        }
    }

    fn cached(&self) -> Option<Arc<Snapshot>> {
        self.current.read().ok().and_then(|guard| guard.clone())
    }

    fn store(&self, snapshot: Arc<Snapshot>) {
        if let Ok(mut guard) = self.current.write() {
            *guard = Some(snapshot);
        }
    }

    /// Discovery with its keys, counted in the metrics.
    async fn discover(&self) -> Result<Snapshot, ProviderError> {
        let discovered = self.discover_uncounted().await;
        metrics::discovery_refresh(discovered.is_ok());
        discovered
    }

    async fn discover_uncounted(&self) -> Result<Snapshot, ProviderError> {
        let url = discovery_url(&self.configured_issuer)?;
        let (metadata, idp_date): (ProviderMetadata, _) =
            fetch::fetch_json(&self.http, url).await?;
        warn_on_clock_drift(idp_date, self.clock_skew);
        if !same_issuer(&metadata.issuer, &self.configured_issuer) {
            return Err(ProviderError::IssuerMismatch {
                configured: self.configured_issuer.clone(),
                found: metadata.issuer,
            });
        }
        let algorithms =
            ValidationRules::accepted_algorithms(&metadata.id_token_signing_alg_values_supported)
                .ok_or_else(|| {
                ProviderError::BadResponse(format!(
                    "it signs ID tokens only with {:?}, none of which this app accepts",
                    metadata.id_token_signing_alg_values_supported
                ))
            })?;
        let rules = ValidationRules {
            // The discovery document's spelling is the one `iss` must match exactly.
            issuer: metadata.issuer.clone(),
            client_id: self.client_id.clone(),
            clock_skew: self.clock_skew,
            algorithms,
        };
        let keys = self.fetch_keys(&metadata.jwks_uri, "discovery").await?;
        let logout_validator = LogoutTokenValidator::new(&rules, keys.clone());
        let validator = IdTokenValidator::new(&rules, keys).map_err(ProviderError::BadResponse)?;
        let key_generation = self
            .key_fetch
            .lock()
            .await
            .fetched_with_discovery(Instant::now());
        Ok(Snapshot {
            metadata: Arc::new(metadata),
            validator,
            logout_validator,
            rules,
            key_generation,
            refresh_due: Instant::now() + DISCOVERY_REFRESH_INTERVAL,
        })
    }

    /// Validates an ID token, refetching the key set once if it names an unknown key.
    pub async fn validate_id_token(
        &self,
        token: &str,
        expected: &Expected<'_>,
    ) -> Result<VerifiedIdToken, ValidationError> {
        let snapshot = self.snapshot().await?;
        match snapshot.validator.validate(token, expected) {
            Err(IdTokenError::UnknownKey { kid }) => {
                let Some(fresh) = self.refresh_keys(&snapshot, kid.as_deref()).await? else {
                    return Err(IdTokenError::UnknownKey { kid }.into());
                };
                Ok(fresh.validator.validate(token, expected)?)
            }
            other => Ok(other?),
        }
    }

    /// Validates a back-channel logout token (all but the replay of its `jti`), refetching the
    /// key set once if it names an unknown key, under the same limits as for ID tokens.
    pub async fn validate_logout_token(
        &self,
        token: &str,
    ) -> Result<LogoutToken, LogoutValidationError> {
        let snapshot = self.snapshot().await?;
        match snapshot.logout_validator.validate(token) {
            Err(LogoutTokenError::UnknownKey { kid }) => {
                let Some(fresh) = self.refresh_keys(&snapshot, kid.as_deref()).await? else {
                    return Err(LogoutTokenError::UnknownKey { kid }.into());
                };
                Ok(fresh.logout_validator.validate(token)?)
            }
            other => Ok(other?),
        }
    }

    /// Fetches the key set again unless rate limits forbid it. Returns the snapshot to retry
    /// with, or `None` when no newer keys can be had now.
    async fn refresh_keys(
        &self,
        seen: &Snapshot,
        kid: Option<&str>,
    ) -> Result<Option<Arc<Snapshot>>, ProviderError> {
        let mut state = self.key_fetch.lock().await;
        if state.generation != seen.key_generation {
            // Someone else fetched while we waited for the lock: retry with their keys.
            return Ok(self.cached());
        }
        let kid = kid.unwrap_or_default();
        let Some(wait) = state.wait_before_refetch(kid, Instant::now()) else {
            return Ok(None);
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        state.refetching(kid, Instant::now());
        let keys = self
            .fetch_keys(&seen.metadata.jwks_uri, "unknown_kid")
            .await?;
        let logout_validator = LogoutTokenValidator::new(&seen.rules, keys.clone());
        let validator =
            IdTokenValidator::new(&seen.rules, keys).map_err(ProviderError::BadResponse)?;
        let fresh = Arc::new(Snapshot {
            metadata: seen.metadata.clone(),
            validator,
            logout_validator,
            rules: seen.rules.clone(),
            key_generation: state.replaced(),
            refresh_due: seen.refresh_due,
        });
        self.store(fresh.clone());
        tracing::info!("identity provider signing keys refetched");
        Ok(Some(fresh))
    }

    /// Fetches the key set; `cause` (`discovery`, `unknown_kid`) labels the metric.
    async fn fetch_keys(
        &self,
        jwks_uri: &Url,
        cause: &'static str,
    ) -> Result<KeySet, ProviderError> {
        let fetched = fetch::fetch_json(&self.http, jwks_uri.clone()).await;
        metrics::jwks_fetch(cause, fetched.is_ok());
        Ok(fetched?.0)
    }
}

/// Logs a warning when the IdP's clock and ours differ by more than the allowed skew: tokens
/// would then look expired or issued in the future.
fn warn_on_clock_drift(idp_date: Option<i64>, skew: Duration) -> Option<i64> {
    let drift = idp_date? - crate::clock::now();
    if drift.unsigned_abs() > skew.as_secs() {
        tracing::warn!(
            drift_secs = drift,
            allowed_skew_secs = skew.as_secs(),
            "the identity provider's clock differs from ours by {drift} s, more than the allowed skew: check NTP on both sides"
        );
    }
    Some(drift)
}

/// `<issuer>/.well-known/openid-configuration`, as Discovery §4 builds it.
fn discovery_url(issuer: &str) -> Result<Url, ProviderError> {
    let base = issuer.trim_end_matches('/');
    Url::parse(&format!("{base}/.well-known/openid-configuration"))
        .map_err(|e| ProviderError::BadResponse(format!("issuer URL: {e}")))
}

/// Issuers must match exactly, but a configured value that differs only by a trailing slash is
/// a common typo that Discovery's URL construction already forgives.
fn same_issuer(discovered: &str, configured: &str) -> bool {
    discovered == configured || discovered.trim_end_matches('/') == configured.trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_drift_is_measured_against_the_local_clock() {
        let skew = Duration::from_secs(60);
        let drift = warn_on_clock_drift(Some(crate::clock::now() + 300), skew).unwrap();
        assert!((299..=301).contains(&drift), "{drift}");
        assert_eq!(warn_on_clock_drift(None, skew), None);
    }

    #[test]
    fn issuers_match_exactly_or_up_to_a_trailing_slash_of_the_configured_value() {
        assert!(same_issuer("https://idp.example/", "https://idp.example"));
        assert!(same_issuer("https://idp.example", "https://idp.example/"));
        assert!(!same_issuer(
            "https://idp.example/tenant",
            "https://idp.example"
        ));
    }
}
