//! The error pages of a login that cannot start or complete: each says what happened and
//! offers to try again; what the IdP reported is cut short before it is shown.

use rocket::http::Status;

use crate::oidc::fetch::ProviderError;
use crate::routes::errors::ErrorPage;
use crate::store::StoreError;

pub(super) fn no_login_in_progress() -> ErrorPage {
    ErrorPage::new(
        Status::BadRequest,
        "Login failed",
        "No login was in progress for this response: it may have expired, been used already, or your browser blocked the login cookie.",
    )
    .try_login_again()
}

pub(super) fn login_failed(message: &str) -> ErrorPage {
    ErrorPage::new(Status::BadRequest, "Login failed", message).try_login_again()
}

/// A login whose response was received but cannot be accepted (401), with why.
pub(super) fn not_accepted(reason: &str) -> ErrorPage {
    ErrorPage::new(
        Status::Unauthorized,
        "Login failed",
        format!("The login could not be accepted: {reason}."),
    )
    .try_login_again()
}

pub(super) fn idp_error(code: &str, description: Option<&str>) -> ErrorPage {
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

pub(super) fn unavailable(error: ProviderError) -> ErrorPage {
    tracing::warn!(%error, "identity provider unavailable");
    let status = match error {
        ProviderError::IssuerMismatch { .. } | ProviderError::BadResponse(_) => Status::BadGateway,
        _ => Status::ServiceUnavailable,
    };
    ErrorPage::new(
        status,
        "Login is unavailable",
        format!("Logging in is not possible right now: {error}."),
    )
    .with_action("Try again", "/login")
}

/// The session store cannot record what a login needs (a consumed `state`, the tokens).
pub(super) fn store_unavailable(error: &StoreError) -> ErrorPage {
    tracing::error!(%error, "login stopped: session store unavailable");
    ErrorPage::new(
        Status::ServiceUnavailable,
        "Login is unavailable",
        "Logging in is not possible right now: the session store is unavailable. Please try again in a moment.",
    )
    .with_action("Try again", "/login")
}

pub(super) fn internal() -> ErrorPage {
    ErrorPage::new(
        Status::InternalServerError,
        "Something went wrong",
        "The login could not be started.",
    )
}
