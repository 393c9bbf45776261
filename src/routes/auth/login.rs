//! `GET /login`: starts a login attempt, keeps it in a transient cookie, and sends the browser
//! to the IdP's authorization endpoint.

use std::sync::Arc;

use rocket::http::{CookieJar, Status};
use rocket::response::Redirect;
use rocket::{get, routes, Route, State};

use super::attempts;
use super::failures::{internal, store_unavailable, unavailable};
use crate::clock;
use crate::config::Settings;
use crate::oidc::flow::LoginAttempt;
use crate::oidc::provider::Provider;
use crate::oidc::step_up::StepUp;
use crate::oidc::token_endpoint::TokenError;
use crate::routes::errors::ErrorPage;
use crate::session::Sessions;

pub(super) fn routes() -> Vec<Route> {
    routes![login]
}

#[get("/login?<returnTo>&<acr_values>&<max_age>")]
#[allow(non_snake_case)]
async fn login(
    returnTo: Option<&str>,
    acr_values: Option<&str>,
    max_age: Option<&str>,
    jar: &CookieJar<'_>,
    provider: &State<Arc<Provider>>,
    settings: &State<Settings>,
    sessions: &State<Sessions>,
) -> Result<Redirect, ErrorPage> {
    // RFC 9470 step-up: checked before anything else, so a bad request costs nothing.
    let step_up = StepUp::from_query(acr_values, max_age).map_err(|error| {
        ErrorPage::new(Status::BadRequest, "Login failed", format!("{error}.")).try_login_again()
    })?;
    // The callback will need the store: with it down, say so now rather than after the IdP.
    sessions
        .store
        .ping()
        .await
        .map_err(|e| store_unavailable(&e))?;
    let snapshot = provider.snapshot().await.map_err(unavailable)?;
    let now_ms = clock::now_ms();
    let attempt = LoginAttempt::start(returnTo.unwrap_or("/"), settings.response_type, now_ms)
        .with_step_up(step_up);
    let parameters = attempt.authorization_parameters(
        &settings.client_id,
        &settings.redirect_uri(),
        &settings.scopes,
        settings.response_type,
    );
    // With PAR the parameters are pushed first, and the browser carries a reference only.
    let url = provider
        .authorization_redirect(&snapshot, &parameters)
        .await
        .map_err(|error| par_failed(&error))?;
    // The attempt's cookie only once the IdP took the request: a refused push leaves none.
    attempts::drop_stale_attempts(jar, &sessions.policy, now_ms);
    attempts::keep(jar, &sessions.policy, &attempt).map_err(|_| internal())?;
    Ok(Redirect::found(url.to_string()))
}

/// The IdP could not take the pushed authorization request: unreachable (503) or refusing it
/// (502, a configuration matter: client authentication, registered redirect URI).
fn par_failed(error: &TokenError) -> ErrorPage {
    match error {
        TokenError::Provider(error) => unavailable(error.clone()),
        other => {
            tracing::warn!(error = %other, "pushed authorization request failed");
            ErrorPage::new(
                Status::BadGateway,
                "Login unavailable",
                format!("The identity provider did not accept the login request: {other}."),
            )
            .try_login_again()
        }
    }
}
