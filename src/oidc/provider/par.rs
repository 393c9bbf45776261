//! Pushed authorization requests (RFC 9126): the authorization request's parameters go to the
//! IdP over the authenticated back channel first, and the browser carries only `client_id` and
//! the `request_uri` the IdP gave for them. Nothing of the request can then be read or altered
//! in the browser, and the client is authenticated before the user sees a page.

use serde::Deserialize;
use url::Url;

use super::token_endpoint::{refused, send, TokenError};
use super::Provider;
use crate::config::ParMode;
use crate::oidc::directory::Snapshot;
use crate::oidc::discovery::ProviderMetadata;
use crate::oidc::flow::with_query;

/// The longest `request_uri` accepted (they are short opaque strings).
const MAX_REQUEST_URI_LEN: usize = 2048;

/// The PAR endpoint's answer (RFC 9126 §2.2).
#[derive(Debug, Deserialize)]
struct PushedRequest {
    request_uri: String,
    #[allow(dead_code)]
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Whether authorization requests are pushed: `PAR=always`, `auto` when the IdP has the
/// endpoint and the app can authenticate there (a secret or a key: IdPs refuse an
/// unauthenticated push from a client registered with credentials), and whatever the setting
/// when the IdP requires it.
pub fn pushes(par: ParMode, metadata: &ProviderMetadata, has_credentials: bool) -> bool {
    metadata.require_pushed_authorization_requests
        || match par {
            ParMode::Always => true,
            ParMode::Auto => {
                has_credentials && metadata.pushed_authorization_request_endpoint.is_some()
            }
            ParMode::Never => false,
        }
}

impl Provider {
    /// Where the browser goes to log in: the authorization endpoint with `parameters` in the
    /// query, or, when pushed, with `client_id` and the `request_uri` the IdP returned.
    pub async fn authorization_redirect(
        &self,
        snapshot: &Snapshot,
        parameters: &[(&'static str, String)],
    ) -> Result<Url, TokenError> {
        let metadata = &snapshot.metadata;
        let has_credentials = self.credentials.secret.is_some() || self.credentials.key.is_some();
        if !pushes(self.par, metadata, has_credentials) {
            return Ok(with_query(&metadata.authorization_endpoint, parameters));
        }
        let endpoint = metadata
            .pushed_authorization_request_endpoint
            .clone()
            .ok_or(TokenError::NoEndpoint(
                "pushed authorization request endpoint",
            ))?;
        // Every parameter, `client_id` included (RFC 9126 §2.1), whatever the authentication.
        let form: Vec<(&str, &str)> = parameters
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        let request = self.authenticated_post(metadata, endpoint, &form);
        let (status, _, body) = send(request, "pushed authorization request endpoint").await?;
        if !status.is_success() {
            return Err(refused(status, &body));
        }
        let pushed: PushedRequest = serde_json::from_slice(&body)
            .map_err(|e| TokenError::Invalid(format!("pushed authorization response: {e}")))?;
        if pushed.request_uri.is_empty() || pushed.request_uri.len() > MAX_REQUEST_URI_LEN {
            return Err(TokenError::Invalid(
                "the request_uri is empty or too long".into(),
            ));
        }
        Ok(with_query(
            &metadata.authorization_endpoint,
            &[
                ("client_id", self.credentials.client_id.clone()),
                ("request_uri", pushed.request_uri),
            ],
        ))
    }
}
