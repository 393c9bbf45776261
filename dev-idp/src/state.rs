//! What the development IdP's routes share: its issuer, clients, key, sessions and grants.

use std::sync::Arc;

use openidconnect::IssuerUrl;
use rocket::State;
use serde_json::Value;

use crate::accounts::Account;
use crate::client_assertion::ClientAssertions;
use crate::clients::Clients;
use crate::discovery;
use crate::dpop::Dpop;
use crate::grants::{Grants, Lifetimes};
use crate::pushed_requests::PushedRequests;
use crate::sessions::IdpSessions;
use crate::signing::SigningKey;

/// Everything the IdP's routes share.
pub struct IdpState {
    pub issuer: IssuerUrl,
    pub clients: Clients,
    pub key: SigningKey,
    pub sessions: IdpSessions,
    /// Authorization codes and the tokens issued for them.
    pub grants: Grants,
    /// The discovery document, served as is.
    pub discovery: Value,
    /// The public key set, served as is.
    pub jwks: Value,
    /// Delivers back-channel logout tokens to the clients.
    pub backchannel_http: openidconnect::reqwest::Client,
    /// Pushed authorization requests (RFC 9126).
    pub par: PushedRequests,
    /// DPoP proofs (RFC 9449): used `jti`s and nonces.
    pub dpop: Dpop,
    /// `private_key_jwt` client assertions: the clients' keys and used `jti`s.
    pub assertions: ClientAssertions,
}

/// The FAPI 2.0 features that are optional here (see `Options`).
#[derive(Debug, Clone, Copy)]
pub struct Features {
    pub require_par: bool,
    pub dpop_nonce: bool,
    pub dpop_skew: std::time::Duration,
    pub request_uri_lifetime: std::time::Duration,
}

impl IdpState {
    pub fn new(
        issuer: &str,
        clients: Clients,
        key: SigningKey,
        lifetimes: Lifetimes,
        features: Features,
    ) -> Result<Self, String> {
        let issuer = IssuerUrl::new(issuer.to_string()).map_err(|e| e.to_string())?;
        let metadata = discovery::metadata(&issuer, features.require_par)?;
        let discovery = serde_json::to_value(&metadata).map_err(|e| e.to_string())?;
        let jwks = serde_json::to_value(key.jwks()).map_err(|e| e.to_string())?;
        let backchannel_http = backchannel_http_client()?;
        Ok(Self {
            issuer,
            clients,
            key,
            sessions: IdpSessions::default(),
            grants: Grants::new(lifetimes),
            discovery,
            jwks,
            backchannel_http,
            par: PushedRequests::new(features.require_par, features.request_uri_lifetime),
            dpop: Dpop::new(features.dpop_nonce, features.dpop_skew),
            assertions: ClientAssertions::new()?,
        })
    }

    /// The URL of the endpoint at `path` (as in DPoP's `htu` and an assertion's `aud`).
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer.as_str().trim_end_matches('/'))
    }

    pub fn picture_url(&self, account: &Account) -> String {
        format!(
            "{}/avatars/{}.svg",
            self.issuer.as_str().trim_end_matches('/'),
            account.username
        )
    }
}

/// How routes receive the shared state.
pub type Idp = State<Arc<IdpState>>;

/// How long one delivery of a logout token may take.
const DELIVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The client that delivers back-channel logout tokens: short timeouts, and no redirects (a
/// logout token goes to the registered URI only).
fn backchannel_http_client() -> Result<openidconnect::reqwest::Client, String> {
    openidconnect::reqwest::Client::builder()
        .timeout(DELIVERY_TIMEOUT)
        .connect_timeout(DELIVERY_TIMEOUT)
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())
}
