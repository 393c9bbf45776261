//! The app's own access tokens (client credentials grant, RFC 6749 §4.4), one per audience an
//! API asks for (its `resource` and `scopes`), each cached until due, fetched one at a time.

use std::sync::Arc;
use std::time::Duration;

use super::token_endpoint::{Credential, TokenError};
use super::Provider;
use crate::config::Audience;
use crate::oidc::dpop::DpopKey;

/// Distinct audiences cached at most (they come from the configuration, so a few); beyond,
/// the cache starts over.
const MAX_AUDIENCES: usize = 256;

impl Provider {
    /// The app's own access token for `audience` (none: the plain client credentials grant),
    /// with the app's client authentication and DPoP-bound with `DPOP`: the cached one until
    /// `margin` before it expires, else a new one, fetched by one caller while the others
    /// wait. A token is only ever handed out for the audience it was asked for.
    pub async fn client_token(
        &self,
        margin: Duration,
        audience: Option<&Audience>,
    ) -> Result<Credential, TokenError> {
        let mut cached = self.client_tokens.lock().await;
        let now = crate::clock::now();
        let key = audience.map(Audience::key);
        if let Some((credential, expires_at)) = cached.get(&key) {
            if now.saturating_add(margin.as_secs() as i64) < *expires_at {
                return Ok(credential.clone());
            }
        }
        let dpop = match self.dpop {
            true => {
                Some(Arc::new(DpopKey::generate().map_err(|e| {
                    TokenError::Invalid(format!("no DPoP key: {e}"))
                })?))
            }
            false => None,
        };
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend(audience.map(Audience::parameters).unwrap_or_default());
        let response = self.token_request(&form, dpop).await?;
        // Without `expires_in`, the token is used for a minute, then fetched again.
        let lifetime = response.expires_in.unwrap_or(60);
        let expires_at = now.saturating_add(i64::try_from(lifetime).unwrap_or(i64::MAX));
        let credential = Credential {
            token: response.access_token,
            dpop: response.dpop_key,
        };
        if cached.len() >= MAX_AUDIENCES {
            cached.clear();
        }
        cached.insert(key, (credential.clone(), expires_at));
        Ok(credential)
    }
}
