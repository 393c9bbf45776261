//! `POST /backchannel-logout`: OpenID Connect Back-Channel Logout 1.0 §2.5–2.8. The IdP's
//! server posts a logout token; a valid one ends, on every instance, the sessions of the IdP
//! session it names (`sid`), or else every session of the user (`sub`) begun until now, and
//! revokes their refresh tokens. Server to server: no cookie, and no same-origin check.

use rocket::form::{Errors, Form, FromForm};
use rocket::http::{Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder};
use rocket::serde::json::json;
use rocket::{post, routes, Route, State};

use crate::clock;
use crate::config::Settings;
use crate::oidc::logout_token::{self, LogoutToken, LogoutTokenError};
use crate::oidc::provider::LogoutValidationError;
use crate::oidc::providers::IdentityProviders;
use crate::routes::errors::request_id;
use crate::session::{self, Sessions};
use crate::store::{self, Revocation, StoreError};
use crate::token_keeper::TokenKeeper;

pub(super) fn routes() -> Vec<Route> {
    routes![backchannel_logout, backchannel_logout_not_a_form]
}

/// §2.5: the logout token, posted as `application/x-www-form-urlencoded`.
#[derive(FromForm)]
struct LogoutRequest {
    logout_token: Option<String>,
}

/// The answer to the IdP (§2.8): JSON, never cached.
#[derive(Debug)]
enum Answer {
    /// 200: the sessions are ended (or there were none).
    Done,
    /// 400: the request or its logout token is not acceptable; nothing was ended.
    Refused(String),
    /// 503: the store or the IdP's keys cannot be reached now; the IdP may try again.
    Unavailable,
}

impl<'r> Responder<'r, 'static> for Answer {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        crate::metrics::backchannel_logout(match &self {
            Answer::Done => "ended",
            Answer::Refused(_) => "invalid",
            Answer::Unavailable => "unavailable",
        });
        let (status, body) = match self {
            Answer::Done => (Status::Ok, json!({})),
            Answer::Refused(description) => (
                Status::BadRequest,
                json!({ "error": "invalid_request", "error_description": description }),
            ),
            Answer::Unavailable => (
                Status::ServiceUnavailable,
                json!({
                    "error": "temporarily_unavailable",
                    "error_description": "the logout cannot be carried out right now; try again later",
                }),
            ),
        };
        response::Response::build_from((status, body).respond_to(req)?)
            .header(Header::new("Cache-Control", "no-store"))
            .ok()
    }
}

#[post("/backchannel-logout", data = "<form>")]
async fn backchannel_logout(
    req: RequestId,
    form: Result<Form<LogoutRequest>, Errors<'_>>,
    providers: &State<IdentityProviders>,
    settings: &State<Settings>,
    sessions: &State<Sessions>,
    keeper: &State<TokenKeeper>,
) -> Answer {
    let refused = |reason: String| {
        tracing::warn!(request_id = %req.0, %reason, "back-channel logout refused");
        Answer::Refused(reason)
    };
    // 1. One logout token, as a form parameter.
    let token = match form {
        Ok(form) => form.into_inner().logout_token.filter(|t| !t.is_empty()),
        Err(_) => return refused("the request body is not a readable form".into()),
    };
    let Some(token) = token else {
        return refused("the logout_token parameter is missing".into());
    };
    // 2. Validate it (§2.6 steps 1–6): signature, claims, type, events, no nonce.
    // The token's issuer picks the provider (one endpoint for all); the signature, `iss` and
    // `aud` are then checked against that provider alone, and only its sessions end.
    // A token naming no provider of this app is checked against the default one, and refused
    // for the precise reason (its issuer, its form) that check finds.
    let chosen = claimed_issuer(&token)
        .and_then(|issuer| providers.with_issuer(&issuer))
        .unwrap_or_else(|| providers.default_provider());
    let (provider, idp) = (&chosen.client, chosen.scope());
    let logout = match provider.validate_logout_token(&token).await {
        Ok(logout) => logout,
        Err(LogoutValidationError::LogoutToken(error)) => return refused(error.to_string()),
        Err(LogoutValidationError::Provider(error)) => {
            tracing::warn!(request_id = %req.0, %error, "back-channel logout not checked: the identity provider's keys cannot be had");
            return Answer::Unavailable;
        }
    };
    // 3. Once only (§2.6 step 7): its jti is remembered on every instance.
    let store = sessions.store.as_ref();
    match logout_token::remember(store, &logout).await {
        Ok(true) => {}
        Ok(false) => return refused(LogoutTokenError::Replayed.to_string()),
        Err(error) => return unavailable(&req, &error),
    }
    // 4. End the sessions (§2.7), then forget their tokens and revoke them at the IdP.
    let now = clock::now();
    if let Err(error) = end_sessions(&logout, idp, settings, sessions, now).await {
        // Let the IdP deliver it again: the logout it asked for has not happened.
        let _ = logout_token::forget(store, &logout).await;
        return unavailable(&req, &error);
    }
    let index = match (&logout.sid, &logout.sub) {
        (Some(sid), _) => session::index::of_idp_session(idp, sid),
        (None, Some(sub)) => session::index::of_user(idp, sub),
        (None, None) => return Answer::Done,
    };
    let ended = async {
        let names = store.set_members(&index).await?;
        let revoked = keeper.revoke_named(&names).await;
        store.remove(&index).await?;
        Ok::<_, StoreError>(revoked)
    };
    match ended.await {
        Ok(revoked) => {
            tracing::info!(request_id = %req.0, by = if logout.sid.is_some() { "sid" } else { "sub" }, tokens_revoked = revoked, "back-channel logout: sessions ended");
        }
        // The sessions are ended already; their tokens lapse with the store's records.
        Err(error) => {
            tracing::warn!(request_id = %req.0, %error, "back-channel logout: sessions ended, but their tokens could not be revoked");
        }
    }
    Answer::Done
}

/// Records the revocation on every instance: by IdP session when the token names one (the
/// sessions of that login only), else by user for every session begun until now. Kept as long
/// as any session it ends could live.
async fn end_sessions(
    logout: &LogoutToken,
    idp: Option<&str>,
    settings: &Settings,
    sessions: &Sessions,
    now: i64,
) -> Result<(), StoreError> {
    // Another instance's clock may lag: keep it the skew longer than the longest session.
    let until = now
        + sessions.policy.absolute_lifetime.as_secs() as i64
        + settings.clock_skew.as_secs() as i64;
    let revocation = match (&logout.sid, &logout.sub) {
        (Some(sid), _) => Revocation::idp_session(&store::scoped(idp, sid), now, until),
        (None, Some(sub)) => Revocation::subject(&store::scoped(idp, sub), now, until),
        (None, None) => return Ok(()),
    };
    sessions.store.revoke(revocation).await
}

fn unavailable(req: &RequestId, error: &StoreError) -> Answer {
    tracing::error!(request_id = %req.0, %error, "back-channel logout not carried out: the store is unavailable");
    Answer::Unavailable
}

/// The `iss` a JWT claims, read without checking anything (only to pick whose keys check it).
fn claimed_issuer(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_string)
}

/// §2.5 requires a form: anything else is refused with a reason, as JSON.
#[post("/backchannel-logout", rank = 2)]
fn backchannel_logout_not_a_form() -> Answer {
    tracing::warn!(reason = "not a form", "back-channel logout refused");
    Answer::Refused("the logout token must be posted as application/x-www-form-urlencoded".into())
}

/// The request id, for the log lines of this request.
struct RequestId(String);

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for RequestId {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> rocket::request::Outcome<Self, ()> {
        rocket::request::Outcome::Success(RequestId(request_id(req)))
    }
}
