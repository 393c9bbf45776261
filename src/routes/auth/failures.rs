//! Why a login cannot start or complete, in one place: each failure knows its page (a plain
//! reason and a way to try again; what the IdP reported is cut short before it is shown), its
//! status, its log line and its metric, so the login and callback handlers only say `?`.

use rocket::http::Status;
use rocket::response::{self, Responder};
use rocket::Request;

use crate::access::Refusal;
use crate::hooks::MAX_HOST_VALUES_BYTES;
use crate::metrics;
use crate::oidc::fetch::ProviderError;
use crate::oidc::token_endpoint::TokenError;
use crate::routes::errors::ErrorPage;
use crate::store::StoreError;
use crate::telemetry::request_id;

/// A login that failed, with what the browser is told and what the log and metrics record.
#[derive(Debug, thiserror::Error)]
pub(super) enum LoginFailure {
    /// The answer matches no login attempt of this browser (no cookie, another state...).
    #[error("{reason}")]
    NoLoginInProgress {
        /// The metric's fixed reason.
        kind: &'static str,
        /// The log's reason.
        reason: &'static str,
    },
    /// The login request itself is unusable, or the answer is refused with a known reason
    /// (`message` is the page's sentence).
    #[error("{reason}")]
    Refused {
        kind: &'static str,
        reason: String,
        message: String,
    },
    /// An answer that was received and checked, and is not accepted: the page says why.
    #[error("{reason}")]
    NotAccepted { kind: &'static str, reason: String },
    /// A valid login of an account the access rules do not let in (403).
    #[error("{0}")]
    NotAllowed(#[source] Refusal),
    /// The host's login hook refused the login (403 with its message).
    #[error("refused by the host's login hook")]
    RefusedByHost(String),
    /// The host's login hook gave more values than a session cookie can carry.
    #[error("the login hook's values are over {MAX_HOST_VALUES_BYTES} bytes")]
    HostValuesTooLarge,
    /// The IdP answered with an error (the user cancelled, or the request was refused there).
    #[error("identity provider returned an error: {code}")]
    Idp {
        code: String,
        description: Option<String>,
    },
    /// The IdP could not be reached, or its metadata is unusable.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The IdP did not take the pushed authorization request (a configuration matter).
    #[error("pushed authorization request failed: {0}")]
    Push(#[source] TokenError),
    /// The session store cannot record what a login needs (a consumed `state`, the tokens).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Too many logins started from this client address (429, `Retry-After`).
    #[error("too many logins from this address")]
    TooManyLogins { retry_after_secs: u64 },
    /// The login attempt could not be written into its cookie.
    #[error("the login attempt could not be kept: {0}")]
    AttemptNotKept(#[source] serde_json::Error),
}

impl LoginFailure {
    /// A refusal whose log reason and page sentence are the same kind of thing.
    pub(super) fn refused(
        kind: &'static str,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::Refused {
            kind,
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// A failed push: unreachable is the IdP's outage, anything else its refusal.
    pub(super) fn push(error: TokenError) -> Self {
        match error {
            TokenError::Provider(error) => Self::Provider(error),
            other => Self::Push(other),
        }
    }

    /// The metric's outcome and fixed reason.
    fn metric(&self) -> (&'static str, &'static str) {
        match self {
            Self::NoLoginInProgress { kind, .. }
            | Self::Refused { kind, .. }
            | Self::NotAccepted { kind, .. } => ("rejected", kind),
            Self::NotAllowed(_) => ("rejected", "not_allowed"),
            Self::RefusedByHost(_) => ("rejected", "refused_by_host"),
            Self::HostValuesTooLarge => ("unavailable", "host_values_too_large"),
            Self::Idp { .. } => ("idp_error", "idp_error"),
            Self::Provider(_) | Self::Push(_) => ("unavailable", "identity_provider"),
            Self::Store(_) => ("unavailable", "store"),
            Self::AttemptNotKept(_) => ("unavailable", "attempt_cookie"),
            Self::TooManyLogins { .. } => ("rejected", "rate_limited"),
        }
    }

    /// The log line, with the request id the page shows.
    fn log(&self, request_id: &str) {
        match self {
            Self::NoLoginInProgress { .. } | Self::Refused { .. } | Self::NotAccepted { .. } => {
                tracing::warn!(request_id, reason = %self, "login rejected")
            }
            Self::RefusedByHost(_) => {
                tracing::warn!(request_id, "login refused by the host's login hook")
            }
            Self::HostValuesTooLarge => {
                tracing::error!(request_id, "login stopped: {self}")
            }
            Self::NotAllowed(refusal) => {
                tracing::warn!(request_id, reason = %refusal, "login refused: the account is not allowed here")
            }
            Self::Idp { code, .. } => {
                tracing::info!(
                    request_id,
                    error = code,
                    "identity provider returned an error"
                )
            }
            Self::Provider(error) => {
                tracing::warn!(request_id, %error, "identity provider unavailable")
            }
            Self::Push(error) => {
                tracing::warn!(request_id, %error, "pushed authorization request failed")
            }
            Self::Store(error) => {
                tracing::error!(request_id, %error, "login stopped: session store unavailable")
            }
            Self::AttemptNotKept(error) => {
                tracing::error!(request_id, %error, "login stopped: attempt not kept")
            }
            Self::TooManyLogins { .. } => {
                tracing::info!(request_id, "login refused: too many from this address")
            }
        }
    }

    /// What the browser is shown.
    fn page(self) -> ErrorPage {
        match self {
            Self::NoLoginInProgress { .. } => ErrorPage::new(
                Status::BadRequest,
                "Login failed",
                "No login was in progress for this response: it may have expired, been used already, or your browser blocked the login cookie.",
            )
            .try_login_again(),
            Self::Refused { message, .. } => {
                ErrorPage::new(Status::BadRequest, "Login failed", message).try_login_again()
            }
            Self::NotAccepted { reason, .. } => ErrorPage::new(
                Status::Unauthorized,
                "Login failed",
                format!("The login could not be accepted: {reason}."),
            )
            .try_login_again(),
            Self::RefusedByHost(message) => {
                let message: String = message.chars().take(300).collect();
                ErrorPage::new(Status::Forbidden, "Not allowed", message).try_login_again()
            }
            Self::HostValuesTooLarge => ErrorPage::new(
                Status::ServiceUnavailable,
                "Login is unavailable",
                "The login could not be completed. Please try again later.",
            )
            .with_action("Try again", "/login"),
            Self::NotAllowed(_) => ErrorPage::new(
                Status::Forbidden,
                "Not allowed",
                "This account is not allowed here. Log in with another account, or ask the administrator of this site for access.",
            )
            .try_login_again(),
            Self::Idp { code, description } => idp_error(&code, description.as_deref()),
            Self::Provider(error) => {
                let status = match error {
                    ProviderError::IssuerMismatch { .. } | ProviderError::BadResponse(_) => {
                        Status::BadGateway
                    }
                    _ => Status::ServiceUnavailable,
                };
                ErrorPage::new(
                    status,
                    "Login is unavailable",
                    format!("Logging in is not possible right now: {error}."),
                )
                .with_action("Try again", "/login")
            }
            Self::Push(error) => ErrorPage::new(
                Status::BadGateway,
                "Login unavailable",
                format!("The identity provider did not accept the login request: {error}."),
            )
            .try_login_again(),
            Self::Store(_) => ErrorPage::new(
                Status::ServiceUnavailable,
                "Login is unavailable",
                "Logging in is not possible right now: the session store is unavailable. Please try again in a moment.",
            )
            .with_action("Try again", "/login"),
            Self::AttemptNotKept(_) => ErrorPage::new(
                Status::ServiceUnavailable,
                "Login is unavailable",
                "The login could not be started. Please try again in a moment.",
            )
            .with_action("Try again", "/login"),
            Self::TooManyLogins { retry_after_secs } => ErrorPage::new(
                Status::TooManyRequests,
                "Too many logins",
                format!("Too many logins were started from your address. Please try again in {retry_after_secs} seconds."),
            )
            .with_action("Try again", "/login"),
        }
    }
}

impl<'r> Responder<'r, 'static> for LoginFailure {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let (outcome, kind) = self.metric();
        metrics::login(outcome, kind);
        self.log(&request_id(req));
        let retry_after = match &self {
            Self::TooManyLogins { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        let mut response = self.page().respond_to(req)?;
        if let Some(secs) = retry_after {
            response.set_raw_header("Retry-After", secs.to_string());
        }
        Ok(response)
    }
}

/// The page for an error the IdP reported: cancelled (401) or failed (400).
fn idp_error(code: &str, description: Option<&str>) -> ErrorPage {
    let cancelled = matches!(
        code,
        "access_denied" | "login_required" | "consent_required" | "interaction_required"
    );
    let detail: String = description.unwrap_or_default().chars().take(300).collect();
    let code: String = code.chars().take(100).collect();
    let (status, title, message) = if cancelled {
        (
            Status::Unauthorized,
            "Login cancelled",
            format!("The login was cancelled or not allowed at the identity provider ({code})."),
        )
    } else {
        (
            Status::BadRequest,
            "Login failed",
            format!("The identity provider reported an error: {code}."),
        )
    };
    let message = if detail.is_empty() {
        message
    } else {
        format!("{message} {detail}")
    };
    ErrorPage::new(status, title, message).try_login_again()
}
