//! A session's tokens for APIs' own audiences (an API's `resource` and `scopes`): obtained
//! with the session's refresh token, sealed in the same record as its other tokens (so they
//! go with them at logout, when revoking the refresh token revokes its grant), and obtained
//! again when due under the same single-flight lock (the refresh token may rotate). A token
//! is only ever handed out for the audience it was obtained for; none is no fallback.

use std::time::Duration;

use super::{StoredTokens, TokenKeeper, TokenUnavailable};
use crate::clock;
use crate::config::Audience;
use crate::oidc::token_endpoint::Credential;
use crate::store;

impl TokenKeeper {
    /// A usable access token for `audience` (none: the session's own token), obtained or
    /// refreshed first when missing or due.
    pub async fn access_token_for(
        &self,
        session_id: &str,
        audience: Option<&Audience>,
        lifetime: Duration,
    ) -> Result<Credential, TokenUnavailable> {
        let Some(audience) = audience else {
            return self.access_token(session_id, lifetime).await;
        };
        let name = store::digest(session_id);
        let tokens = self.load(&name).await?.ok_or(TokenUnavailable::NoTokens)?;
        if self.is_current(&tokens, Some(audience), None) {
            return self
                .credential_for(&name, &tokens, Some(audience))
                .ok_or(TokenUnavailable::NoTokens);
        }
        self.refresh_for(&name, Some(audience), None, lifetime)
            .await
    }

    /// A new access token for `audience` after its API refused `rejected`.
    pub async fn replace_rejected_for(
        &self,
        session_id: &str,
        audience: Option<&Audience>,
        rejected: &str,
        lifetime: Duration,
    ) -> Result<Credential, TokenUnavailable> {
        let name = store::digest(session_id);
        self.refresh_for(&name, audience, Some(rejected), lifetime)
            .await
    }

    /// Whether `tokens` hold a token for `audience` that answers the request: one other than
    /// the rejected token, or (with none rejected) one still fresh.
    pub(super) fn is_current(
        &self,
        tokens: &StoredTokens,
        audience: Option<&Audience>,
        rejected: Option<&str>,
    ) -> bool {
        let (token, expires_at) = match audience {
            None => (&tokens.access_token, tokens.expires_at),
            Some(audience) => match tokens.api_tokens.get(&audience.key()) {
                Some(api) => (&api.access_token, api.expires_at),
                None => return false,
            },
        };
        match rejected {
            Some(rejected) => rejected != token,
            None => expires_at
                .is_none_or(|at| clock::now() + (self.refresh_margin.as_secs() as i64) < at),
        }
    }

    /// The token for `audience` with the session's DPoP key, which binds every token of the
    /// session; `None` when there is none (or the key does not load).
    pub(super) fn credential_for(
        &self,
        name: &str,
        tokens: &StoredTokens,
        audience: Option<&Audience>,
    ) -> Option<Credential> {
        let mut credential = self.credential(name, tokens)?;
        if let Some(audience) = audience {
            credential
                .token
                .clone_from(&tokens.api_tokens.get(&audience.key())?.access_token);
        }
        Some(credential)
    }
}
