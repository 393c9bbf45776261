//! `/login`, `/callback` and `/logout`: the login attempt's steps in the order the
//! specification gives them. Cryptography lives in `oidc`, the session cookie in `session`.

use std::sync::Arc;
use std::time::Duration;

use rocket::form::{Form, FromForm};
use rocket::http::{Cookie, CookieJar, SameSite, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::Redirect;
use rocket::{get, post, routes, Route, State};

use super::errors::{request_id, ErrorPage};
use crate::clock;
use crate::config::Settings;
use crate::oidc::fetch::ProviderError;
use crate::oidc::flow::{self, LoginAttempt, LOGIN_ATTEMPT_LIFETIME_SECS};
use crate::oidc::login::{AuthorizationResult, CompletedLogin, LoginError};
use crate::oidc::provider::Provider;
use crate::session::{self, Sessions};
use crate::tokens::TokenKeeper;

/// Transient cookies are named `bff_login_<tag>`, one per login attempt.
const LOGIN_COOKIE_PREFIX: &str = "bff_login_";
/// At most this many login attempts are pending per browser; older ones are dropped.
const MAX_PENDING_LOGINS: usize = 4;

pub fn routes() -> Vec<Route> {
    routes![
        login,
        callback,
        callback_not_a_form,
        callback_via_get,
        logout
    ]
}

#[get("/login?<returnTo>")]
#[allow(non_snake_case)]
async fn login(
    returnTo: Option<&str>,
    jar: &CookieJar<'_>,
    provider: &State<Arc<Provider>>,
    settings: &State<Settings>,
) -> Result<Redirect, ErrorPage> {
    let snapshot = provider.snapshot().await.map_err(unavailable)?;
    let now_ms = clock::now_ms();
    let attempt = LoginAttempt::start(returnTo.unwrap_or("/"), settings.response_type, now_ms);
    drop_stale_attempts(jar, now_ms);
    let value = serde_json::to_string(&attempt).map_err(|_| internal())?;
    let cookie = Cookie::build((format!("{LOGIN_COOKIE_PREFIX}{}", attempt.tag()), value))
        .http_only(true)
        // The IdP's POST to /callback is cross-site: only `None` survives it, and `None`
        // requires `Secure` (which browsers accept on http://localhost).
        .same_site(SameSite::None)
        .secure(true)
        .path("/")
        .build();
    jar.add_private(session::lasting(cookie, LOGIN_ATTEMPT_LIFETIME_SECS));
    let url = attempt.authorization_url(
        &snapshot.metadata,
        &settings.client_id,
        &settings.redirect_uri(),
        &settings.scopes,
        settings.response_type,
    );
    Ok(Redirect::found(url.to_string()))
}

/// Removes expired or unreadable attempts and, past the limit, the oldest ones.
fn drop_stale_attempts(jar: &CookieJar<'_>, now_ms: i64) {
    let names: Vec<String> = jar
        .iter()
        .filter(|c| c.name().starts_with(LOGIN_COOKIE_PREFIX))
        .map(|c| c.name().to_string())
        .collect();
    let mut live = Vec::new();
    for name in names {
        match read_attempt(jar, &name) {
            Some(attempt) if !attempt.is_expired(now_ms) => {
                live.push((attempt.started_at_ms, name))
            }
            _ => remove_login_cookie(jar, name),
        }
    }
    live.sort();
    let excess = (live.len() + 1).saturating_sub(MAX_PENDING_LOGINS);
    for (_, name) in live.into_iter().take(excess) {
        remove_login_cookie(jar, name);
    }
}

fn read_attempt(jar: &CookieJar<'_>, name: &str) -> Option<LoginAttempt> {
    serde_json::from_str(jar.get_private(name)?.value()).ok()
}

fn remove_login_cookie(jar: &CookieJar<'_>, name: String) {
    jar.remove_private(
        Cookie::build(name)
            .path("/")
            .same_site(SameSite::None)
            .secure(true),
    );
}

/// The authorization response, posted by the browser on the IdP's behalf (form_post).
#[derive(FromForm)]
struct AuthorizationResponse {
    state: Option<String>,
    id_token: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    /// RFC 9207: when the IdP names itself, it must be the one we sent the user to.
    iss: Option<String>,
}

#[post("/callback", data = "<response>")]
async fn callback(
    response: Form<AuthorizationResponse>,
    req_info: RequestInfo,
    jar: &CookieJar<'_>,
    provider: &State<Arc<Provider>>,
    settings: &State<Settings>,
    sessions: &State<Sessions>,
    keeper: &State<TokenKeeper>,
) -> Result<Redirect, ErrorPage> {
    let response = response.into_inner();
    let now_ms = clock::now_ms();
    let rejected = |reason: &str, page: ErrorPage| {
        tracing::warn!(request_id = %req_info.request_id, reason, "login rejected");
        page
    };

    // 1. Find this attempt's transient cookie by its state, then compare the whole state.
    let Some(state) = response.state.as_deref().filter(|s| !s.is_empty()) else {
        return Err(rejected("missing state", no_login_in_progress()));
    };
    let Some(name) = flow::state_tag(state).map(|tag| format!("{LOGIN_COOKIE_PREFIX}{tag}")) else {
        return Err(rejected("malformed state", no_login_in_progress()));
    };
    let Some(attempt) = read_attempt(jar, &name) else {
        return Err(rejected(
            "no transient cookie for this state",
            no_login_in_progress(),
        ));
    };
    // 2. Single use: the attempt's cookie goes whatever happens next.
    remove_login_cookie(jar, name);
    if !attempt.state_matches(state) {
        return Err(rejected("state mismatch", no_login_in_progress()));
    }
    if attempt.is_expired(now_ms) {
        return Err(rejected(
            "login attempt expired",
            login_failed("The login took too long. Please try again."),
        ));
    }
    // 3. An error from the IdP ends the attempt with a page saying so.
    if let Some(error) = response.error.as_deref() {
        tracing::info!(request_id = %req_info.request_id, error, "identity provider returned an error");
        return Err(idp_error(error, response.error_description.as_deref()));
    }
    let snapshot = provider.snapshot().await.map_err(unavailable)?;
    if let Some(iss) = response.iss.as_deref() {
        if iss != snapshot.metadata.issuer {
            return Err(rejected(
                "iss parameter names another issuer",
                login_failed("The response came from an unexpected identity provider."),
            ));
        }
    }
    // 4. Validate the ID token completely (signature, iss, aud, azp, exp, iat, nonce, and
    //    c_hash / at_hash), redeeming the code first when the response type has one.
    let result = AuthorizationResult {
        code: response.code.as_deref(),
        id_token: response.id_token.as_deref(),
    };
    let completed = match provider
        .complete_login(
            settings.response_type,
            result,
            &attempt,
            &settings.redirect_uri(),
        )
        .await
    {
        Ok(completed) => completed,
        Err(LoginError::Provider(error)) => return Err(unavailable(error)),
        Err(error) => {
            let reason = error.to_string();
            return Err(rejected(
                &reason,
                ErrorPage::new(
                    Status::Unauthorized,
                    "Login failed",
                    format!("The login could not be accepted: {reason}."),
                )
                .try_login_again(),
            ));
        }
    };
    // 5. Remember the state as consumed, so a replayed POST with a copied cookie fails.
    //    Only now: a response that failed validation costs no memory. A replay needs both the
    //    attempt's cookie and a token that still validates, so the record lasts until the
    //    earlier of the two lapses.
    let token_lapses_ms = completed
        .identity
        .claims
        .get("exp")
        .and_then(serde_json::Value::as_i64)
        .map_or(i64::MAX, |exp| {
            exp.saturating_add(settings.clock_skew.as_secs() as i64)
                .saturating_mul(1000)
        });
    let consumed_until = attempt.expires_at_ms().min(token_lapses_ms);
    let consumed_for = Duration::from_millis((consumed_until - now_ms).max(1000) as u64);
    if !sessions
        .store
        .record_once(&format!("consumed-state:{state}"), consumed_for)
        .await
    {
        return Err(rejected(
            "state already used",
            login_failed("This login response was already used. Please log in again."),
        ));
    }
    // 6. Issue the session (tokens stay on the server) and go back where the user started.
    let CompletedLogin {
        identity,
        id_token,
        tokens,
    } = completed;
    let subject = identity.subject.clone();
    let now = now_ms / 1000;
    let session = session::issue(jar, &sessions.policy, identity, now).map_err(|e| {
        rejected(
            &e.to_string(),
            login_failed("Your account's details are too large for a session."),
        )
    })?;
    session::keep_id_token(jar, &sessions.policy, &session, &id_token, now);
    if let Some(tokens) = tokens {
        if !keeper
            .keep(&session.id, &tokens, sessions.policy.absolute_lifetime)
            .await
        {
            jar.remove_private(rocket::http::Cookie::build(session::SESSION_COOKIE).path("/"));
            return Err(unavailable(ProviderError::Unreachable(
                "the session store is full".into(),
            )));
        }
    }
    tracing::info!(request_id = %req_info.request_id, sub = %subject, "login accepted");
    Ok(Redirect::to(attempt.return_to))
}

/// A POST to /callback that is not a form (e.g. JSON): refuse clearly instead of a 404.
#[post("/callback", rank = 2)]
fn callback_not_a_form() -> ErrorPage {
    ErrorPage::new(
        Status::BadRequest,
        "Login failed",
        "The login response must be posted as a form (response_mode=form_post).",
    )
    .try_login_again()
}

/// Tokens in a URL leak into histories, logs and referrers: only form_post is accepted.
#[get("/callback")]
fn callback_via_get(req_info: RequestInfo) -> ErrorPage {
    tracing::warn!(request_id = %req_info.request_id, reason = "callback by GET", "login rejected");
    ErrorPage::new(Status::BadRequest, "Login failed", "The identity provider must post the login response (response_mode=form_post); a response in the URL is refused.").try_login_again()
}

#[post("/logout")]
async fn logout(
    _same_origin: SameOrigin,
    jar: &CookieJar<'_>,
    provider: &State<Arc<Provider>>,
    settings: &State<Settings>,
    sessions: &State<Sessions>,
    keeper: &State<TokenKeeper>,
) -> Redirect {
    let ended = session::end(jar, &sessions.policy, sessions.store.as_ref(), clock::now()).await;
    let mut id_token_hint = None;
    if let Some(session) = &ended {
        id_token_hint = session::take_id_token(jar, &session.id);
        // RFC 7009: the refresh token dies with the session.
        keeper.revoke_and_forget(&session.id).await;
    }
    let end_session = match provider.snapshot().await {
        Ok(snapshot) => snapshot.metadata.end_session_endpoint.clone(),
        Err(_) => None,
    };
    let Some(mut url) = end_session else {
        return Redirect::to("/");
    };
    // RP-Initiated Logout 1.0 §2.
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("client_id", &settings.client_id)
            .append_pair(
                "post_logout_redirect_uri",
                &settings.post_logout_redirect_uri(),
            );
        if let Some(hint) = &id_token_hint {
            query.append_pair("id_token_hint", hint);
        }
    }
    Redirect::to(url.to_string())
}

/// Refuses state-changing requests that a browser marks as cross-site.
struct SameOrigin;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SameOrigin {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        let headers = req.headers();
        // Fetch Metadata is the browser's own verdict: only `same-origin` passes (`same-site`
        // would let a sibling subdomain log users out). Without it, fall back to `Origin`.
        let allowed = match headers.get_one("Sec-Fetch-Site") {
            Some(site) => site.eq_ignore_ascii_case("same-origin"),
            None => match (headers.get_one("Origin"), req.rocket().state::<Settings>()) {
                (Some(origin), Some(settings)) => {
                    origin == settings.base_url.origin().ascii_serialization()
                }
                _ => true,
            },
        };
        if allowed {
            Outcome::Success(SameOrigin)
        } else {
            tracing::warn!(request_id = %request_id(req), "cross-site request refused");
            Outcome::Error((Status::Forbidden, ()))
        }
    }
}

/// The request id, as a guard so handlers can log with it.
struct RequestInfo {
    request_id: String,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for RequestInfo {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        Outcome::Success(RequestInfo {
            request_id: request_id(req),
        })
    }
}

fn no_login_in_progress() -> ErrorPage {
    ErrorPage::new(
        Status::BadRequest,
        "Login failed",
        "No login was in progress for this response: it may have expired, been used already, or your browser blocked the login cookie.",
    )
    .try_login_again()
}

fn login_failed(message: &str) -> ErrorPage {
    ErrorPage::new(Status::BadRequest, "Login failed", message).try_login_again()
}

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

fn unavailable(error: ProviderError) -> ErrorPage {
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

fn internal() -> ErrorPage {
    ErrorPage::new(
        Status::InternalServerError,
        "Something went wrong",
        "The login could not be started.",
    )
}
