//! A logout token is accepted once (Back-Channel Logout §2.6 step 7): its `jti` is recorded in
//! the store, shared by every instance, for as long as the token would be accepted.

use std::time::Duration;

use super::claims::LogoutToken;
use crate::store::{digest, Store, StoreError};

/// The store's key for a token's `jti`: a digest of the issuer and `jti` together, since
/// `jti`s are unique per issuer only.
fn key(token: &LogoutToken) -> String {
    format!(
        "logout-jti:{}",
        digest(&format!("{} {}", token.issuer, token.jti))
    )
}

/// Records the token's `jti`: `Ok(false)` when it was already recorded (a replay).
pub async fn remember(store: &dyn Store, token: &LogoutToken) -> Result<bool, StoreError> {
    let ttl = (token.acceptable_until - crate::clock::now()).max(1) as u64;
    store
        .record_once(&key(token), Duration::from_secs(ttl))
        .await
}

/// Forgets the token's `jti` after the logout it asked for could not be carried out, so that
/// the IdP may deliver it again.
pub async fn forget(store: &dyn Store, token: &LogoutToken) -> Result<(), StoreError> {
    store.remove(&key(token)).await
}
