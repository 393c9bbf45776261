//! `/callback`: the IdP's answer, checked step by step against the login attempt, then the
//! session. Posted (form_post) as a rule; in the query of a `GET` only for an attempt started
//! in query mode (`RESPONSE_MODE`, the code flow), and then without an ID token. Any other
//! `GET`, or a POST that is not a form, is refused with a reason.

use std::time::Duration;

use rocket::form::{Form, FromForm};
use rocket::http::{CookieJar, SameSite};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::Redirect;
use rocket::{get, post, routes, Either, Route, State};
use rocket_dyn_templates::tera::Context;
use serde_json::value::RawValue;

use super::attempts::{cookie_name, read_attempt, remove_login_cookie};
use super::failures::LoginFailure;
use crate::clock;
use crate::config::{ResponseMode, ResponseType, Settings};
use crate::hooks::{LoginDecision, LoginHooks, LoginInfo, MAX_HOST_VALUES_BYTES};
use crate::metrics;
use crate::oidc::completion::{AuthorizationResult, CompletedLogin, LoginError, UserinfoAtLogin};
use crate::oidc::flow;
use crate::oidc::providers::IdentityProviders;
use crate::routes::views::View;
use crate::session::{self, SessionPolicy, Sessions};
use crate::store::{self, Consumption};
use crate::telemetry::request_id;
use crate::token_keeper::TokenKeeper;

pub(super) fn routes() -> Vec<Route> {
    routes![callback, callback_not_a_form, callback_in_query]
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

/// What the callback works with: the app's state, as Rocket hands it to each route.
struct Callback<'r> {
    req_info: RequestInfo,
    jar: &'r CookieJar<'r>,
    providers: &'r IdentityProviders,
    settings: &'r Settings,
    sessions: &'r Sessions,
    keeper: &'r TokenKeeper,
    hooks: &'r LoginHooks,
}

#[post("/callback", data = "<response>")]
#[allow(clippy::too_many_arguments)] // Rocket's guards: one argument each.
async fn callback<'r>(
    response: Form<AuthorizationResponse>,
    req_info: RequestInfo,
    jar: &'r CookieJar<'r>,
    providers: &'r State<IdentityProviders>,
    settings: &'r State<Settings>,
    sessions: &'r State<Sessions>,
    keeper: &'r State<TokenKeeper>,
    hooks: &'r State<LoginHooks>,
) -> Result<Either<Redirect, View>, LoginFailure> {
    let context = Callback {
        req_info,
        jar,
        providers,
        settings,
        sessions,
        keeper,
        hooks,
    };
    complete(response.into_inner(), ResponseMode::FormPost, context).await
}

/// The answer of an IdP that never posts: in the query of a top-level `GET`. Accepted only
/// for an attempt started in query mode; the redirect that follows a login drops the query
/// from the address bar and the history.
#[get("/callback?<response..>")]
#[allow(clippy::too_many_arguments)] // Rocket's guards: one argument each.
async fn callback_in_query<'r>(
    response: AuthorizationResponse,
    req_info: RequestInfo,
    jar: &'r CookieJar<'r>,
    providers: &'r State<IdentityProviders>,
    settings: &'r State<Settings>,
    sessions: &'r State<Sessions>,
    keeper: &'r State<TokenKeeper>,
    hooks: &'r State<LoginHooks>,
) -> Result<Either<Redirect, View>, LoginFailure> {
    // Only the code flow can be answered in a URL: an ID token never travels in one.
    let query_possible = providers.all().iter().any(|p| {
        p.settings.response_type == ResponseType::Code
            && p.settings.response_mode != Some(ResponseMode::FormPost)
    });
    if !query_possible || response.id_token.is_some() {
        return Err(by_get());
    }
    let context = Callback {
        req_info,
        jar,
        providers,
        settings,
        sessions,
        keeper,
        hooks,
    };
    complete(response, ResponseMode::Query, context).await
}

async fn complete(
    response: AuthorizationResponse,
    mode: ResponseMode,
    context: Callback<'_>,
) -> Result<Either<Redirect, View>, LoginFailure> {
    let Callback {
        req_info,
        jar,
        providers,
        settings,
        sessions,
        keeper,
        hooks,
    } = context;
    let now_ms = clock::now_ms();
    let no_login = |kind, reason| LoginFailure::NoLoginInProgress { kind, reason };

    // 1. Find this attempt's transient cookie by its state, then compare the whole state.
    let state = (response.state.as_deref())
        .filter(|s| !s.is_empty())
        .ok_or(no_login("missing_state", "missing state"))?;
    let name = flow::state_tag(state)
        .map(|tag| cookie_name(&sessions.policy, tag))
        .ok_or(no_login("malformed_state", "malformed state"))?;
    let attempt = read_attempt(jar, &sessions.policy, &name).ok_or(no_login(
        "no_login_cookie",
        "no transient cookie for this state",
    ))?;
    // 2. Single use: the attempt's cookie goes whatever happens next.
    remove_login_cookie(jar, name);
    if !attempt.state_matches(state) {
        return Err(no_login("state_mismatch", "state mismatch"));
    }
    // The answer must come the way the attempt asked for it.
    match (attempt.response_mode, mode) {
        (ResponseMode::FormPost, ResponseMode::Query) => return Err(by_get()),
        (ResponseMode::Query, ResponseMode::FormPost) => {
            return Err(LoginFailure::refused(
                "response_mode_mismatch",
                "posted answer to a query-mode login",
                "This login expected the identity provider's answer in the address, not posted.",
            ))
        }
        _ => {}
    }
    if attempt.is_expired(now_ms) {
        return Err(LoginFailure::refused(
            "attempt_expired",
            "login attempt expired",
            "The login took too long. Please try again.",
        ));
    }
    // 3. An error from the IdP ends the attempt with a page saying so; a silent login that
    //    the IdP cannot complete without a page goes back where it was, marked, and quietly.
    if let Some(code) = response.error {
        if attempt.silent && needs_interaction(&code) {
            metrics::login("silent_none", "interaction_required");
            tracing::info!(request_id = %req_info.request_id, error = code, "silent login: the identity provider needs the user");
            return Ok(Either::Left(Redirect::to(
                attempt.return_to_without_login(),
            )));
        }
        return Err(LoginFailure::Idp {
            code,
            description: response.error_description,
        });
    }
    // The provider the attempt was started with, and only its answer (mix-up defence): with
    // several, the IdP must name itself (RFC 9207), by `iss` or, in the flows that return
    // one, by the ID token it signs (§2.4), whose issuer is checked below.
    let chosen = providers.chosen(attempt.provider.as_deref()).ok_or_else(|| {
        LoginFailure::refused(
            "unknown_provider",
            "the attempt's identity provider is no longer configured",
            "This login was started at an identity provider that is no longer offered. Please log in again.",
        )
    })?;
    let provider = &chosen.client;
    let snapshot = provider.snapshot().await?;
    let named_itself = response.iss.as_deref();
    if named_itself.is_some_and(|iss| iss != snapshot.metadata.issuer)
        || (providers.several() && named_itself.is_none() && response.id_token.is_none())
    {
        return Err(LoginFailure::refused(
            "issuer_mismatch",
            "iss parameter names another issuer",
            "The response came from an unexpected identity provider.",
        ));
    }
    // 4. Validate the ID token completely (signature, iss, aud, azp, exp, iat, nonce, and
    //    c_hash / at_hash), redeeming the code first when the response type has one.
    let result = AuthorizationResult {
        code: response.code.as_deref(),
        id_token: response.id_token.as_deref(),
    };
    let claims_used = settings.claims_used(&chosen.settings.scopes);
    let userinfo = if settings.userinfo_at_every_login || hooks.installed() {
        UserinfoAtLogin::Always
    } else {
        UserinfoAtLogin::UnlessIdTokenHas(&claims_used)
    };
    let completed = provider
        .complete_login(
            chosen.settings.response_type,
            result,
            &attempt,
            &settings.redirect_uri(),
            userinfo,
        )
        .await
        .map_err(|error| match error {
            LoginError::Provider(error) => LoginFailure::Provider(error),
            error => LoginFailure::NotAccepted {
                kind: "token_invalid",
                reason: error.to_string(),
            },
        })?;
    // 4b. A step-up login (RFC 9470) must deliver the context and recency asked for.
    attempt
        .step_up
        .check(
            &completed.identity.claims,
            now_ms / 1000,
            settings.clock_skew.as_secs() as i64,
        )
        .map_err(|error| LoginFailure::NotAccepted {
            kind: "step_up_not_satisfied",
            reason: error.to_string(),
        })?;
    // 4c. Who may log in here (ALLOWED_EMAIL_DOMAINS, ALLOWED_GROUPS), then the host's say.
    (settings.access)
        .check(&completed.identity.claims)
        .map_err(LoginFailure::NotAllowed)?;
    let host_values = host_decision(hooks, &completed).await?;
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
    let consumed = format!("consumed-state:{}", store::digest(state));
    let issued_ms = attempt.started_at_ms;
    match (sessions.store)
        .consume(&consumed, consumed_for, issued_ms)
        .await?
    {
        Consumption::First => {}
        Consumption::Replayed => {
            return Err(LoginFailure::refused(
                "state_replayed",
                "state already used",
                "This login response was already used. Please log in again.",
            ))
        }
        Consumption::IssuedBeforeRestart => {
            return Err(LoginFailure::refused(
                "state_before_restart",
                "login begun before a restart that may have lost used states",
                "This login began before the service restarted. Please log in again.",
            ))
        }
    }
    // 6. Issue the session (tokens stay on the server) and go back where the user started.
    let CompletedLogin {
        identity,
        id_token,
        tokens,
    } = completed;
    let subject = identity.subject.clone();
    let now = now_ms / 1000;
    // A session this browser already had (a step-up, or a login in another tab) ends here:
    // its cookie is replaced, and a copy of it must not outlive it, nor its tokens.
    if let Some(previous) =
        session::end(jar, &sessions.policy, sessions.store.as_ref(), now).await?
    {
        keeper.revoke_and_forget(&previous.id).await;
    }
    let session = session::issue(
        jar,
        &sessions.policy,
        identity,
        host_values,
        attempt.provider.clone(),
        now,
    )
    .map_err(|error| {
        LoginFailure::refused(
            "session_too_large",
            error.to_string(),
            "Your account's details are too large for a session.",
        )
    })?;
    session::keep_id_token(jar, &sessions.policy, &session, &id_token, now);
    // The tokens and the user's session set at once: a durable store commits them together.
    let tokens_kept = async {
        match tokens {
            Some(tokens) => {
                keeper
                    .keep(&session, &tokens, sessions.policy.absolute_lifetime)
                    .await
            }
            None => Ok(()),
        }
    };
    let noted = session::index::note(sessions.store.as_ref(), &sessions.policy, &session, now);
    match rocket::tokio::try_join!(tokens_kept, noted) {
        Ok(((), pushed_out)) => {
            keeper.revoke_named(&pushed_out).await;
        }
        Err(error) => {
            session::remove_session_cookie(jar, &sessions.policy);
            return Err(error.into());
        }
    }
    metrics::login("accepted", "none");
    metrics::provider_login(&chosen.settings.name);
    metrics::login_duration(Duration::from_millis(
        (now_ms - attempt.started_at_ms).max(0) as u64,
    ));
    tracing::info!(request_id = %req_info.request_id, sub = %subject, provider = %chosen.settings.name, "login accepted");
    Ok(onward(&sessions.policy, attempt.return_to))
}

/// The host's login hook on a validated login: refused, or the values it gives the session
/// (their JSON at most `MAX_HOST_VALUES_BYTES`).
async fn host_decision(
    hooks: &LoginHooks,
    completed: &CompletedLogin,
) -> Result<Option<Box<RawValue>>, LoginFailure> {
    let info = LoginInfo {
        sub: &completed.identity.subject,
        issuer: &completed.identity.issuer,
        claims: &completed.identity.claims,
        access_token: completed.tokens.as_ref().map(|t| t.access_token.as_str()),
    };
    match hooks.decide(&info).await {
        LoginDecision::Accept => Ok(None),
        LoginDecision::Refuse(message) => Err(LoginFailure::RefusedByHost(message)),
        LoginDecision::AcceptWith(values) => {
            let raw = serde_json::value::to_raw_value(&values)
                .ok()
                .filter(|raw| raw.get().len() <= MAX_HOST_VALUES_BYTES)
                .ok_or(LoginFailure::HostValuesTooLarge)?;
            Ok(Some(raw))
        }
    }
}

/// The errors with which an IdP answers `prompt=none` when it would have to show a page
/// (OpenID Connect Core 3.1.2.6).
fn needs_interaction(code: &str) -> bool {
    matches!(
        code,
        "login_required"
            | "consent_required"
            | "interaction_required"
            | "account_selection_required"
    )
}

/// Back to where the login started. With a `SameSite=Strict` session cookie a redirect would
/// still belong to the IdP's cross-site POST, and the browser would leave the cookie off the
/// first page: a small same-origin page navigates instead, and its navigation is same-site.
fn onward(policy: &SessionPolicy, return_to: String) -> Either<Redirect, View> {
    match policy.same_site {
        SameSite::Strict => {
            let mut context = Context::new();
            context.insert("return_to", &return_to);
            Either::Right(View::new("continue", context))
        }
        _ => Either::Left(Redirect::to(return_to)),
    }
}

/// A POST to /callback that is not a form (e.g. JSON): refuse clearly instead of a 404.
#[post("/callback", rank = 2)]
fn callback_not_a_form() -> LoginFailure {
    LoginFailure::refused(
        "not_a_form",
        "callback not posted as a form",
        "The login response must be posted as a form (response_mode=form_post).",
    )
}

/// Tokens in a URL leak into histories, logs and referrers: a `GET` answer is refused unless
/// the attempt asked for one (query mode, the code flow, no ID token).
fn by_get() -> LoginFailure {
    LoginFailure::refused(
        "callback_by_get",
        "callback by GET",
        "The identity provider must post the login response (response_mode=form_post); a response in the URL is refused.",
    )
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
