//! `GET /login`: starts a login attempt, keeps it in a transient cookie, and sends the browser
//! to the IdP's authorization endpoint.

use std::sync::Arc;

use rocket::http::CookieJar;
use rocket::response::Redirect;
use rocket::{get, routes, Route, State};

use super::attempts;
use super::failures::LoginFailure;
use super::rate_limit::LoginRateLimit;
use crate::client_ip::ClientAddress;
use crate::clock;
use crate::config::{self, ResponseMode, Settings};
use crate::oidc::flow::LoginAttempt;
use crate::oidc::provider::Provider;
use crate::oidc::step_up::StepUp;
use crate::session::Sessions;

pub(super) fn routes() -> Vec<Route> {
    routes![login]
}

#[get("/login?<returnTo>&<acr_values>&<max_age>&<prompt>")]
#[allow(non_snake_case)]
#[allow(clippy::too_many_arguments)]
async fn login(
    returnTo: Option<&str>,
    acr_values: Option<&str>,
    max_age: Option<&str>,
    prompt: Option<&str>,
    jar: &CookieJar<'_>,
    provider: &State<Arc<Provider>>,
    settings: &State<Settings>,
    sessions: &State<Sessions>,
    limit: &State<LoginRateLimit>,
    client: ClientAddress,
) -> Result<Redirect, LoginFailure> {
    let ClientAddress(client) = client;
    // A stranger's logins are counted before the BFF does any work for them.
    if let Some(client) = client {
        limit
            .take(client, std::time::Instant::now())
            .map_err(|retry_after_secs| LoginFailure::TooManyLogins { retry_after_secs })?;
    }
    // RFC 9470 step-up: checked before anything else, so a bad request costs nothing.
    let step_up = StepUp::from_query(acr_values, max_age).map_err(|error| {
        LoginFailure::refused("bad_step_up", error.to_string(), format!("{error}."))
    })?;
    // Only a silent login may choose the prompt: the IdP decides when to show its pages.
    let silent = match prompt.map(str::trim).filter(|p| !p.is_empty()) {
        None => false,
        Some("none") => true,
        Some(_) => {
            return Err(LoginFailure::refused(
                "bad_prompt",
                "prompt other than none",
                "Only prompt=none (a silent login) can be asked for.",
            ))
        }
    };
    // The callback will need the store: with it down, say so now rather than after the IdP.
    sessions.store.ping().await?;
    let snapshot = provider.snapshot().await?;
    let now_ms = clock::now_ms();
    let mode = ResponseMode::for_login(
        settings.response_mode,
        settings.response_type,
        snapshot.metadata.response_modes_supported.as_deref(),
    );
    let mut attempt = LoginAttempt::start(returnTo.unwrap_or("/"), settings.response_type, now_ms)
        .with_step_up(step_up)
        .answered_by(mode);
    if silent {
        attempt = attempt.silently();
    }
    // The APIs' resources and scopes too, so their own tokens can be had by refresh later.
    let (scopes, resources) = config::login_request(&settings.remote_apis, &settings.scopes);
    let mut parameters = attempt.authorization_parameters(
        &settings.client_id,
        &settings.redirect_uri(),
        &scopes,
        settings.response_type,
    );
    parameters.extend(resources.into_iter().map(|resource| ("resource", resource)));
    // With PAR the parameters are pushed first, and the browser carries a reference only.
    let url = provider
        .authorization_redirect(&snapshot, &parameters)
        .await
        .map_err(LoginFailure::push)?;
    // The attempt's cookie only once the IdP took the request: a refused push leaves none.
    attempts::drop_stale_attempts(jar, &sessions.policy, now_ms);
    attempts::keep(jar, &sessions.policy, &attempt).map_err(LoginFailure::AttemptNotKept)?;
    Ok(Redirect::found(url.to_string()))
}
