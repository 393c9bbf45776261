//! The back channel of the code flow: the token endpoint (code exchange with PKCE, refresh),
//! revocation (RFC 7009), UserInfo, and calls to an API with the access token (RFC 6750).
//! Tokens travel only between this server and the IdP or API, never through the browser.

use base64::Engine;
use openidconnect::reqwest;
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use super::fetch::ProviderError;
use super::provider::Provider;

/// Answers larger than this from the token endpoint, UserInfo or the upstream API are refused.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A successful token response (RFC 6749 §5.1, OpenID Connect Core 3.1.3.3).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    /// The access token, kept on the server.
    pub access_token: String,
    /// Must be `Bearer`.
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
    /// Exchanges an authorization code (RFC 6749 §4.1.3, RFC 7636 §4.5).
    pub async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<TokenResponse, TokenError> {
        self.token_request(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
        ])
        .await
    }

    /// Uses a refresh token (RFC 6749 §6).
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, TokenError> {
        self.token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenResponse, TokenError> {
        let snapshot = self.snapshot().await?;
        let endpoint = snapshot
            .metadata
            .token_endpoint
            .clone()
            .ok_or(TokenError::NoEndpoint("token endpoint"))?;
        let request = self.authenticated_post(
            endpoint,
            form,
            snapshot.metadata.prefers_client_secret_post(),
        );
        let (status, body) = send(request, "token endpoint").await?;
        if !status.is_success() {
            return Err(refused(status, &body));
        }
        let response: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| TokenError::Invalid(format!("token response: {e}")))?;
        if !response.token_type.eq_ignore_ascii_case("bearer") {
            return Err(TokenError::Invalid(format!(
                "token type `{}` is not Bearer",
                response.token_type
            )));
        }
        Ok(response)
    }

    /// Revokes a token (RFC 7009). Without a revocation endpoint there is nothing to do.
    pub async fn revoke(&self, token: &str, hint: &str) -> Result<(), TokenError> {
        let snapshot = self.snapshot().await?;
        let Some(endpoint) = snapshot.metadata.revocation_endpoint.clone() else {
            return Ok(());
        };
        let request = self.authenticated_post(
            endpoint,
            &[("token", token), ("token_type_hint", hint)],
            snapshot.metadata.prefers_client_secret_post(),
        );
        let (status, body) = send(request, "revocation endpoint").await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(refused(status, &body))
        }
    }

    /// The UserInfo claims for an access token (Core 5.3), JSON responses only.
    pub async fn userinfo(&self, access_token: &str) -> Result<Map<String, Value>, TokenError> {
        let snapshot = self.snapshot().await?;
        let endpoint = snapshot
            .metadata
            .userinfo_endpoint
            .clone()
            .ok_or(TokenError::NoEndpoint("userinfo endpoint"))?;
        match self.get_with_bearer(endpoint, access_token).await? {
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

    /// `GET url` with `Authorization: Bearer …` (RFC 6750 §2.1); the status and JSON body.
    pub async fn get_with_bearer(
        &self,
        url: Url,
        access_token: &str,
    ) -> Result<(u16, Value), TokenError> {
        let request = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .header("accept", "application/json");
        let (status, body) = send(request, "upstream API").await?;
        let json = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body)
                .map_err(|_| TokenError::Invalid("the upstream API did not answer JSON".into()))?
        };
        Ok((status.as_u16(), json))
    }

    /// A form POST authenticated as this client: HTTP Basic with form-encoded id and secret
    /// (RFC 6749 §2.3.1), or the two as form fields when the IdP supports only that.
    fn authenticated_post(
        &self,
        url: Url,
        form: &[(&str, &str)],
        in_body: bool,
    ) -> reqwest::RequestBuilder {
        let secret = self.client_secret.as_deref().unwrap_or_default();
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        let mut request = self.http.post(url).header("accept", "application/json");
        if in_body {
            fields.push(("client_id", &self.client_id));
            if self.client_secret.is_some() {
                fields.push(("client_secret", secret));
            }
        } else if self.client_secret.is_some() {
            let encode = |text: &str| {
                url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>()
            };
            let credentials = format!("{}:{}", encode(&self.client_id), encode(secret));
            let basic = base64::engine::general_purpose::STANDARD.encode(credentials);
            request = request.header("authorization", format!("Basic {basic}"));
        } else {
            fields.push(("client_id", &self.client_id));
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }
}

async fn send(
    request: reqwest::RequestBuilder,
    what: &'static str,
) -> Result<(reqwest::StatusCode, Vec<u8>), TokenError> {
    let response = request.send().await.map_err(|e| {
        let reason = if e.is_timeout() {
            "timed out"
        } else {
            "could not be reached"
        };
        TokenError::Provider(ProviderError::Unreachable(format!("the {what} {reason}")))
    })?;
    let status = response.status();
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
    Ok((status, body.to_vec()))
}

fn refused(status: reqwest::StatusCode, body: &[u8]) -> TokenError {
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
