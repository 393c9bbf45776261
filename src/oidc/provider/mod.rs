//! The identity provider as this app talks to it: what it publishes ([`Directory`]: discovery
//! and keys) and the requests this app makes with it as a client (its credentials, PAR, DPoP):
//! the authorization request ([`par`]), completing a login ([`completion`]), and the token
//! endpoint, revocation, UserInfo and APIs called with a token ([`token_endpoint`]), and the
//! app's own tokens (`client_token`).

mod client_token;
pub mod completion;
pub mod par;
pub mod token_endpoint;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use openidconnect::reqwest;
use secrecy::SecretString;

use super::client_auth::ClientCredentials;
use super::directory::Directory;
use super::dpop::{DpopKey, DpopNonces};
use super::fetch::{self, ProviderError};
use super::logout_token::LogoutToken;
use super::validate::{Expected, VerifiedIdToken};
use crate::config::{Fapi, ParMode};

pub use super::directory::{LogoutValidationError, Snapshot, ValidationError};

/// An access token as the app uses it: plain Bearer, or bound to the session's DPoP key.
/// `Debug` never shows the token.
#[derive(Clone)]
pub struct Credential {
    /// The access token.
    pub token: String,
    /// The session's DPoP key, when the token is bound to it.
    pub dpop: Option<Arc<DpopKey>>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("dpop_bound", &self.dpop.is_some())
            .finish_non_exhaustive()
    }
}

/// The identity provider and this app's client of it, shared by every request.
pub struct Provider {
    directory: Directory,
    http: reqwest::Client,
    /// How the app authenticates at the token, revocation and PAR endpoints.
    credentials: ClientCredentials,
    /// `PAR`: when authorization requests are pushed.
    par: ParMode,
    /// `DPOP`: tokens are bound to a key per session.
    dpop: bool,
    /// The latest DPoP nonce of each server (the IdP's and the APIs').
    dpop_nonces: DpopNonces,
    /// The app's own access tokens (client credentials) by audience key (none: the plain
    /// one), with when each expires (Unix seconds); the lock makes one fetch at a time.
    client_tokens: tokio::sync::Mutex<HashMap<Option<String>, (Credential, i64)>>,
}

impl Provider {
    /// A provider for `issuer`, not yet discovered: the first `snapshot()` does that.
    pub fn new(
        issuer: &str,
        client_id: &str,
        clock_skew: Duration,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Self, ProviderError> {
        let http = fetch::client(connect_timeout, timeout)?;
        Ok(Self {
            directory: Directory::new(http.clone(), issuer, client_id, clock_skew),
            http,
            credentials: ClientCredentials {
                client_id: client_id.to_string(),
                ..ClientCredentials::default()
            },
            par: ParMode::Auto,
            dpop: false,
            dpop_nonces: DpopNonces::default(),
            client_tokens: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    /// For confidential clients: the secret used at the token and revocation endpoints.
    pub fn with_client_secret(mut self, secret: Option<SecretString>) -> Self {
        self.credentials.secret = secret;
        self
    }

    /// The FAPI 2.0 client settings: client authentication method and key, PAR and DPoP.
    pub fn with_fapi(mut self, fapi: &Fapi) -> Self {
        self.credentials.method = fapi.client_auth;
        self.credentials.key = fapi.client_key.clone();
        self.par = fapi.par;
        self.dpop = fapi.dpop;
        self
    }

    /// The latest DPoP nonces of the servers this app called.
    pub fn dpop_nonces(&self) -> &DpopNonces {
        &self.dpop_nonces
    }

    /// What the IdP publishes, discovering it first if that has not succeeded yet.
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, ProviderError> {
        self.directory.snapshot().await
    }

    /// Whether the IdP answers discovery now (readiness).
    pub async fn probe(&self) -> Result<(), ProviderError> {
        self.directory.probe().await
    }

    /// Validates an ID token against the IdP's keys (see [`Directory::validate_id_token`]).
    pub async fn validate_id_token(
        &self,
        token: &str,
        expected: &Expected<'_>,
    ) -> Result<VerifiedIdToken, ValidationError> {
        self.directory.validate_id_token(token, expected).await
    }

    /// Validates a back-channel logout token (see [`Directory::validate_logout_token`]).
    pub async fn validate_logout_token(
        &self,
        token: &str,
    ) -> Result<LogoutToken, LogoutValidationError> {
        self.directory.validate_logout_token(token).await
    }
}
