//! The back channel of the code flow: the token endpoint (code exchange with PKCE, refresh),
//! revocation (RFC 7009), UserInfo, and calls to an API with the access token (RFC 6750).
//! Tokens travel only between this server and the IdP or API, never through the browser.

use std::fmt;
use std::sync::Arc;

use openidconnect::reqwest;
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

pub use super::Credential;
use super::Provider;
use crate::config::Audience;
use crate::oidc::client_auth::form_body;
use crate::oidc::discovery::ProviderMetadata;
use crate::oidc::dpop::{resource_wants_nonce, DpopKey};
use crate::oidc::fetch::ProviderError;
use crate::oidc::values::{AuthorizationCode, CodeVerifier};

/// Answers larger than this from the token endpoint, UserInfo or the upstream API are refused.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A successful token response (RFC 6749 §5.1, OpenID Connect Core 3.1.3.3). `Debug` shows
/// which tokens it holds, never the tokens.
#[derive(Clone, Deserialize)]
pub struct TokenResponse {
    /// The access token, kept on the server.
    pub access_token: String,
    /// `Bearer`, or `DPoP` when the request carried a proof.
    pub token_type: String,
    /// Lifetime of the access token in seconds, when the IdP says.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// The refresh token, when one is issued.
    #[serde(default)]
    pub refresh_token: Option<String>,
    /// The ID token, when the token endpoint sends one.
    #[serde(default)]
    pub id_token: Option<String>,
    /// The DPoP key the tokens are bound to (not part of the response: the request's).
    #[serde(skip)]
    pub dpop_key: Option<Arc<DpopKey>>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "…"))
            .field("id_token", &self.id_token.as_ref().map(|_| "…"))
            .field("dpop_bound", &self.dpop_key.is_some())
            .finish_non_exhaustive()
    }
}

/// An OAuth error response (RFC 6749 §5.2).
#[derive(Debug, Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Why a call to the token, revocation or UserInfo endpoint (or the upstream API) failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum TokenError {
    /// The IdP answered with an OAuth error.
    #[error("the identity provider refused the request ({error}{})", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        /// The `error` code (shortened).
        error: String,
        /// The `error_description` (shortened).
        description: Option<String>,
    },
    /// The IdP or API could not be reached.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The IdP does not offer the endpoint needed.
    #[error("the identity provider has no {0}")]
    NoEndpoint(&'static str),
    /// The answer cannot be used.
    #[error("the answer is unusable ({0})")]
    Invalid(String),
}

impl Provider {
    /// Exchanges an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.5); with `DPOP`, for
    /// tokens bound to a fresh key, which the response carries on.
    pub async fn exchange_code(
        &self,
        code: &AuthorizationCode,
        code_verifier: &CodeVerifier,
        redirect_uri: &str,
    ) -> Result<TokenResponse, TokenError> {
        let key = match self.dpop {
            true => {
                Some(Arc::new(DpopKey::generate().map_err(|e| {
                    TokenError::Invalid(format!("no DPoP key: {e}"))
                })?))
            }
            false => None,
        };
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.secret()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier.secret()),
        ];
        self.token_request(&form, key).await
    }

    /// Uses a refresh token (RFC 6749 §6), with the key its tokens are bound to, if any; for
    /// an API's own token, with its `resource` (RFC 8707 §2.2) and narrower `scope`.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        dpop: Option<Arc<DpopKey>>,
        audience: Option<&Audience>,
    ) -> Result<TokenResponse, TokenError> {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        form.extend(audience.map(Audience::parameters).unwrap_or_default());
        self.token_request(&form, dpop).await
    }

    pub(super) async fn token_request(
        &self,
        form: &[(&str, &str)],
        dpop: Option<Arc<DpopKey>>,
    ) -> Result<TokenResponse, TokenError> {
        let snapshot = self.snapshot().await?;
        let endpoint = snapshot
            .metadata
            .token_endpoint
            .clone()
            .ok_or(TokenError::NoEndpoint("token endpoint"))?;
        let mut retried = false;
        let (status, body) = loop {
            let mut request = self.authenticated_post(&snapshot.metadata, endpoint.clone(), form);
            let nonce = self.dpop_nonces.for_url(&endpoint);
            if let Some(key) = &dpop {
                request = request.header(
                    "dpop",
                    self.proof(key, "POST", &endpoint, None, nonce.as_deref())?,
                );
            }
            let (status, headers, body) = send(request, "token endpoint").await?;
            let fresh_nonce = dpop.is_some() && self.dpop_nonces.remember(&endpoint, &headers);
            // RFC 9449 §8: the IdP wants a nonce; once, with the one it just gave.
            if status.as_u16() == 400
                && fresh_nonce
                && !retried
                && is_error(&body, "use_dpop_nonce")
            {
                retried = true;
                continue;
            }
            break (status, body);
        };
        if !status.is_success() {
            return Err(refused(status, &body));
        }
        let mut response: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| TokenError::Invalid(format!("token response: {e}")))?;
        // RFC 9449 §5: tokens asked for with a proof must come back bound; and a bound token
        // is useless to a client that did not ask for binding.
        let expected = if dpop.is_some() { "DPoP" } else { "Bearer" };
        if !response.token_type.eq_ignore_ascii_case(expected) {
            return Err(TokenError::Invalid(format!(
                "token type `{}` where `{expected}` was expected",
                response.token_type.chars().take(20).collect::<String>()
            )));
        }
        response.dpop_key = dpop;
        Ok(response)
    }

    /// A DPoP proof, as a header value.
    fn proof(
        &self,
        key: &DpopKey,
        method: &str,
        url: &Url,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, TokenError> {
        key.proof(method, url, access_token, nonce)
            .map_err(|e| TokenError::Invalid(format!("DPoP proof not signed: {e}")))
    }

    /// Revokes a token (RFC 7009). Without a revocation endpoint there is nothing to do.
    pub async fn revoke(
        &self,
        token: &str,
        hint: &str,
        dpop: Option<&DpopKey>,
    ) -> Result<(), TokenError> {
        let snapshot = self.snapshot().await?;
        let Some(endpoint) = snapshot.metadata.revocation_endpoint.clone() else {
            return Ok(());
        };
        let form = [("token", token), ("token_type_hint", hint)];
        let mut request = self.authenticated_post(&snapshot.metadata, endpoint.clone(), &form);
        if let Some(key) = dpop {
            let nonce = self.dpop_nonces.for_url(&endpoint);
            request = request.header(
                "dpop",
                self.proof(key, "POST", &endpoint, None, nonce.as_deref())?,
            );
        }
        let (status, _, body) = send(request, "revocation endpoint").await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(refused(status, &body))
        }
    }

    /// The UserInfo claims for an access token (Core 5.3), JSON responses only.
    pub async fn userinfo(
        &self,
        credential: &Credential,
    ) -> Result<Map<String, Value>, TokenError> {
        let snapshot = self.snapshot().await?;
        let endpoint = snapshot
            .metadata
            .userinfo_endpoint
            .clone()
            .ok_or(TokenError::NoEndpoint("userinfo endpoint"))?;
        match self.get_with_token(endpoint, credential).await? {
            (200, Value::Object(claims)) => Ok(claims),
            (200, _) => Err(TokenError::Invalid("userinfo is not a JSON object".into())),
            (status, _) => Err(TokenError::Invalid(format!("userinfo answered {status}"))),
        }
    }

    /// The default upstream API: the IdP's UserInfo endpoint.
    pub async fn userinfo_endpoint(&self) -> Option<Url> {
        self.snapshot()
            .await
            .ok()?
            .metadata
            .userinfo_endpoint
            .clone()
    }

    /// The headers that present `credential` for `method url`: `Authorization: Bearer …`, or
    /// `Authorization: DPoP …` with a fresh `DPoP` proof (RFC 9449 §7) using the server's
    /// latest nonce.
    pub fn resource_headers(
        &self,
        method: &str,
        url: &Url,
        credential: &Credential,
    ) -> Result<Vec<(&'static str, String)>, TokenError> {
        match &credential.dpop {
            None => Ok(vec![(
                "authorization",
                format!("Bearer {}", credential.token),
            )]),
            Some(key) => {
                let nonce = self.dpop_nonces.for_url(url);
                let proof =
                    self.proof(key, method, url, Some(&credential.token), nonce.as_deref())?;
                Ok(vec![
                    ("authorization", format!("DPoP {}", credential.token)),
                    ("dpop", proof),
                ])
            }
        }
    }

    /// `GET url` with the access token (RFC 6750 §2.1 or RFC 9449 §7); the status and JSON
    /// body. A DPoP server's request for a nonce is answered once.
    pub async fn get_with_token(
        &self,
        url: Url,
        credential: &Credential,
    ) -> Result<(u16, Value), TokenError> {
        let mut retried = false;
        let (status, body) = loop {
            let mut request = self
                .http
                .get(url.clone())
                .header("accept", "application/json");
            for (name, value) in self.resource_headers("GET", &url, credential)? {
                request = request.header(name, value);
            }
            let (status, headers, body) = send(request, "upstream API").await?;
            if credential.dpop.is_some() {
                let fresh_nonce = self.dpop_nonces.remember(&url, &headers);
                if fresh_nonce && !retried && resource_wants_nonce(status.as_u16(), &headers) {
                    retried = true;
                    continue;
                }
            }
            break (status, body);
        };
        let json = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)
                .map_err(|_| TokenError::Invalid("the upstream API did not answer JSON".into()))?
        };
        Ok((status.as_u16(), json))
    }

    /// A form POST authenticated as this client (see [`crate::oidc::client_auth`]).
    pub(super) fn authenticated_post(
        &self,
        metadata: &ProviderMetadata,
        url: Url,
        form: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        let auth = self.credentials.authenticate(metadata);
        let mut request = self.http.post(url).header("accept", "application/json");
        if let Some(authorization) = auth.authorization {
            request = request.header("authorization", authorization);
        }
        // A form that names the client already (a pushed request) keeps its one `client_id`.
        let has_client_id = form.iter().any(|(name, _)| *name == "client_id");
        let fields: Vec<(&'static str, String)> = auth
            .fields
            .into_iter()
            .filter(|(name, _)| !(has_client_id && *name == "client_id"))
            .collect();
        request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(form, &fields))
    }
}

/// Whether an OAuth error body names `code`.
fn is_error(body: &[u8], code: &str) -> bool {
    serde_json::from_slice::<ErrorResponse>(body).is_ok_and(|e| e.error == code)
}

pub(super) async fn send(
    request: reqwest::RequestBuilder,
    what: &'static str,
) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>), TokenError> {
    let response = request.send().await.map_err(|e| {
        let reason = if e.is_timeout() {
            "timed out"
        } else {
            "could not be reached"
        };
        TokenError::Provider(ProviderError::Unreachable(format!("the {what} {reason}")))
    })?;
    let status = response.status();
    let headers = response.headers().clone();
    if status.is_server_error() {
        return Err(TokenError::Provider(ProviderError::Unreachable(format!(
            "the {what} answered {status}"
        ))));
    }
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY_BYTES as u64)
    {
        return Err(TokenError::Invalid(format!(
            "the {what}'s answer is too large"
        )));
    }
    let body = response.bytes().await.map_err(|_| {
        TokenError::Provider(ProviderError::Unreachable(format!("the {what} broke off")))
    })?;
    if body.len() > MAX_BODY_BYTES {
        return Err(TokenError::Invalid(format!(
            "the {what}'s answer is too large"
        )));
    }
    Ok((status, headers, body.to_vec()))
}

pub(super) fn refused(status: reqwest::StatusCode, body: &[u8]) -> TokenError {
    match serde_json::from_slice::<ErrorResponse>(body) {
        Ok(e) => TokenError::Refused {
            error: e.error.chars().take(100).collect(),
            description: e.error_description.map(|d| d.chars().take(300).collect()),
        },
        Err(_) => TokenError::Refused {
            error: format!("HTTP {status}"),
            description: None,
        },
    }
}
