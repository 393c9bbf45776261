//! Logout tokens of OpenID Connect Back-Channel Logout 1.0: the IdP posts one to this app when
//! a user's session at the IdP ends. A logout token is validated like an ID token where the
//! specification says so (§2.6: the same keys, algorithms, `iss`, `aud`, `azp` and clock
//! rules) and by its own rules otherwise (`typ`, `events`, no `nonce`, `sid`/`sub`, `jti`).
//!
//! `jws` reads the compact form, the header and the signature; `claims` checks the claims;
//! `replay` remembers each accepted `jti`; `error` says why a token was refused. The key
//! refetch on an unknown `kid` is the provider's, shared with ID tokens.

mod claims;
mod error;
mod jws;
mod replay;

use std::sync::Arc;

pub use claims::LogoutToken;
pub use error::LogoutTokenError;
pub use replay::{forget, remember};

use super::keys::KeySet;
use super::validate::ValidationRules;

/// Checks logout tokens against the IdP's rules and one key set; built with the ID token
/// validator whenever the keys change.
#[derive(Clone)]
pub struct LogoutTokenValidator {
    rules: ValidationRules,
    keys: Arc<KeySet>,
}

impl LogoutTokenValidator {
    /// A validator for `rules` (those of ID tokens) with the IdP's `keys`.
    pub fn new(rules: &ValidationRules, keys: KeySet) -> Self {
        Self {
            rules: rules.clone(),
            keys: Arc::new(keys),
        }
    }

    /// Validates everything but the replay of `jti` (which needs the store: [`remember`]).
    pub fn validate(&self, token: &str) -> Result<LogoutToken, LogoutTokenError> {
        let claims = jws::verify(token, &self.rules.algorithms, &self.keys)?;
        claims::check(
            &claims,
            &claims::Expected {
                issuer: &self.rules.issuer,
                client_id: &self.rules.client_id,
                clock_skew: self.rules.clock_skew.as_secs() as i64,
                now: crate::clock::now(),
            },
        )
    }
}
