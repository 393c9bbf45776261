//! Completing a login from the authorization response, for each response type:
//! `id_token` (Core 3.2.2.11), `code` (3.1.3) and `code id_token` (3.3.2.11, 3.3.3.6).

use serde_json::Value;

use super::token_endpoint::{Credential, TokenError, TokenResponse};
use super::Provider;
use crate::config::ResponseType;
use crate::oidc::directory::ValidationError;
use crate::oidc::fetch::ProviderError;
use crate::oidc::flow::LoginAttempt;
use crate::oidc::validate::{Expected, IdTokenError, VerifiedIdToken};
use crate::oidc::values::AuthorizationCode;

/// Why a callback could not complete the login.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LoginError {
    /// The IdP could not be reached or answered something unusable.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// An ID token breaks a validation rule.
    #[error(transparent)]
    IdToken(#[from] IdTokenError),
    /// The authorization response or the token response lacks a part the flow needs.
    #[error("the identity provider did not send {0}")]
    Missing(&'static str),
    /// The token endpoint refused the code or answered something unusable.
    #[error("the code exchange failed: {0}")]
    Token(TokenError),
    /// The two ID tokens of the hybrid flow disagree.
    #[error("the token endpoint's ID token names another user or issuer than the first one")]
    SubjectMismatch,
}

/// What the IdP posted back, besides `state`.
pub struct AuthorizationResult<'a> {
    /// `code`, for response types with a code.
    pub code: Option<&'a str>,
    /// `id_token`, for response types with a front-channel ID token.
    pub id_token: Option<&'a str>,
}

/// When a code login asks UserInfo for the claims its ID token lacks.
#[derive(Debug, Clone, Copy)]
pub enum UserinfoAtLogin<'a> {
    /// Every time (`USERINFO_AT_EVERY_LOGIN`, or a host's login hook, which may read any claim).
    Always,
    /// Only when the ID token lacks one of these claims (`Settings::claims_used`): an IdP that
    /// puts them in the ID token is not asked a second time (a round trip and ~30 µs of CPU
    /// per login, bench/results/issue23-2026-12-07.md).
    UnlessIdTokenHas(&'a [&'a str]),
}

/// A completed login: who it is, the ID token (kept for `id_token_hint`) and, with a code,
/// the tokens from the token endpoint.
pub struct CompletedLogin {
    /// Who logged in, with the ID token's (and UserInfo's) claims.
    pub identity: VerifiedIdToken,
    /// The raw ID token.
    pub id_token: String,
    /// The token endpoint's answer, for response types with a code.
    pub tokens: Option<TokenResponse>,
}

fn present(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

impl Provider {
    /// Validates the authorization response for `attempt` and, with a code, redeems it.
    pub async fn complete_login(
        &self,
        response_type: ResponseType,
        result: AuthorizationResult<'_>,
        attempt: &LoginAttempt,
        redirect_uri: &str,
        userinfo: UserinfoAtLogin<'_>,
    ) -> Result<CompletedLogin, LoginError> {
        let nonce = attempt.nonce.secret();
        if response_type == ResponseType::IdToken {
            let id_token = present(result.id_token).ok_or(LoginError::Missing("an ID token"))?;
            let identity = self
                .validate_id_token(
                    id_token,
                    &Expected {
                        nonce,
                        ..Expected::default()
                    },
                )
                .await?;
            return Ok(CompletedLogin {
                identity,
                id_token: id_token.to_string(),
                tokens: None,
            });
        }

        let code = present(result.code).ok_or(LoginError::Missing("an authorization code"))?;
        // Hybrid: the front-channel ID token is validated, c_hash included, before the code
        // is redeemed, so a swapped code is caught without spending it.
        let front = match response_type {
            ResponseType::CodeIdToken => {
                let id_token =
                    present(result.id_token).ok_or(LoginError::Missing("an ID token"))?;
                let expected = Expected {
                    nonce,
                    code: Some(code),
                    require_code_hash: true,
                    ..Expected::default()
                };
                Some((self.validate_id_token(id_token, &expected).await?, id_token))
            }
            _ => None,
        };
        let verifier = (attempt.code_verifier.as_ref())
            .ok_or(LoginError::Missing("a PKCE verifier for this attempt"))?;
        let tokens = self
            .exchange_code(&AuthorizationCode::new(code), verifier, redirect_uri)
            .await?;
        let back_token = tokens.id_token.clone().filter(|t| !t.is_empty());
        let back = match &back_token {
            Some(id_token) => {
                let expected = Expected {
                    nonce,
                    access_token: Some(&tokens.access_token),
                    ..Expected::default()
                };
                Some(self.validate_id_token(id_token, &expected).await?)
            }
            None => None,
        };
        let (identity, id_token) = match (front, back, back_token) {
            (Some((first, _)), Some(second), Some(raw)) => {
                if first.issuer != second.issuer || first.subject != second.subject {
                    return Err(LoginError::SubjectMismatch);
                }
                (second, raw)
            }
            (Some((first, raw)), None, _) => (first, raw.to_string()),
            (None, Some(second), Some(raw)) => (second, raw),
            _ => return Err(LoginError::Missing("an ID token from the token endpoint")),
        };
        let credential = Credential {
            token: tokens.access_token.clone(),
            dpop: tokens.dpop_key.clone(),
        };
        let complete = match userinfo {
            UserinfoAtLogin::Always => false,
            UserinfoAtLogin::UnlessIdTokenHas(claims) => claims
                .iter()
                .all(|claim| identity.claims.contains_key(*claim)),
        };
        let identity = if complete {
            identity
        } else {
            self.with_userinfo(identity, &credential).await
        };
        Ok(CompletedLogin {
            identity,
            id_token,
            tokens: Some(tokens),
        })
    }

    /// Adds UserInfo claims the ID token lacks (IdPs often keep profile claims out of ID
    /// tokens issued with an access token). Core 5.3.4: ignored unless `sub` matches.
    async fn with_userinfo(
        &self,
        mut identity: VerifiedIdToken,
        credential: &Credential,
    ) -> VerifiedIdToken {
        let claims = match self.userinfo(credential).await {
            Ok(claims) => claims,
            Err(TokenError::NoEndpoint(_)) => return identity,
            Err(error) => {
                tracing::info!(%error, "userinfo unavailable at login; using the ID token's claims");
                return identity;
            }
        };
        if claims.get("sub").and_then(Value::as_str) != Some(identity.subject.as_str()) {
            tracing::warn!("userinfo names another subject; its claims are ignored");
            return identity;
        }
        for (name, value) in claims {
            identity.claims.entry(name).or_insert(value);
        }
        identity
    }
}

impl From<TokenError> for LoginError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Provider(p) => LoginError::Provider(p),
            other => LoginError::Token(other),
        }
    }
}

impl From<ValidationError> for LoginError {
    fn from(error: ValidationError) -> Self {
        match error {
            ValidationError::Provider(p) => LoginError::Provider(p),
            ValidationError::IdToken(e) => LoginError::IdToken(e),
        }
    }
}
