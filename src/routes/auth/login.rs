//! `GET /login`: starts a login attempt, keeps it in a transient cookie, and sends the browser
//! to the IdP's authorization endpoint. With several identity providers, `idp=<name>` or an
//! `email` whose domain a provider claims chooses one; without either, a page lists them.

use rocket::http::{CookieJar, Status};
use rocket::response::Redirect;
use rocket::{get, routes, Either, Route, State};
use rocket_dyn_templates::tera::Context;

use super::attempts;
use super::failures::LoginFailure;
use super::rate_limit::LoginRateLimit;
use crate::client_ip::ClientAddress;
use crate::clock;
use crate::config::{self, ResponseMode, Settings};
use crate::oidc::flow::LoginAttempt;
use crate::oidc::providers::IdentityProviders;
use crate::oidc::step_up::StepUp;
use crate::routes::views::View;
use crate::session::{self, Sessions};

pub(super) fn routes() -> Vec<Route> {
    routes![login]
}

#[get("/login?<returnTo>&<acr_values>&<max_age>&<prompt>&<idp>&<email>")]
#[allow(non_snake_case)]
#[allow(clippy::too_many_arguments)]
async fn login(
    returnTo: Option<&str>,
    acr_values: Option<&str>,
    max_age: Option<&str>,
    prompt: Option<&str>,
    idp: Option<&str>,
    email: Option<&str>,
    jar: &CookieJar<'_>,
    providers: &State<IdentityProviders>,
    settings: &State<Settings>,
    sessions: &State<Sessions>,
    limit: &State<LoginRateLimit>,
    client: ClientAddress,
) -> Result<Either<Redirect, (Status, View)>, LoginFailure> {
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
    let return_to = returnTo.unwrap_or("/");
    // Which identity provider: named, found by the email's domain, chosen on the page when
    // there are several, else the only one.
    let chosen = match (present(idp), present(email)) {
        (Some(name), _) => match providers.named(name) {
            Some(chosen) => chosen,
            None => {
                let message = "There is no identity provider by that name: choose one.";
                return Ok(Either::Right(choice(
                    providers,
                    return_to,
                    Status::BadRequest,
                    message,
                )));
            }
        },
        (None, Some(email)) => match providers.for_email(email) {
            Some(chosen) => chosen,
            None => {
                let message = "No identity provider is set up for that email address: choose one.";
                return Ok(Either::Right(choice(
                    providers,
                    return_to,
                    Status::Ok,
                    message,
                )));
            }
        },
        // A logged-in user (a step-up, say) goes back to the provider of the session. The
        // cookie is only read (not checked against ended sessions): it grants nothing here,
        // it only says where to log in, and a login with one provider never reads it.
        (None, None) if providers.several() && !silent => {
            let current = session::read_cookie(jar, &sessions.policy);
            match current.and_then(|session| providers.chosen(session.idp.as_deref())) {
                Some(chosen) => chosen,
                None => return Ok(Either::Right(choice(providers, return_to, Status::Ok, ""))),
            }
        }
        (None, None) => providers.default_provider(),
    };
    let (provider, its) = (&chosen.client, &chosen.settings);
    // The callback will need the store: with it down, say so now rather than after the IdP.
    sessions.store.ping().await?;
    let snapshot = provider.snapshot().await?;
    let now_ms = clock::now_ms();
    let mode = ResponseMode::for_login(
        its.response_mode,
        its.response_type,
        snapshot.metadata.response_modes_supported.as_deref(),
    );
    let mut attempt = LoginAttempt::start(return_to, its.response_type, now_ms)
        .with_step_up(step_up)
        .answered_by(mode)
        .at_provider(chosen.scope().map(str::to_string));
    if silent {
        attempt = attempt.silently();
    }
    // The APIs' resources and scopes too, so their own tokens can be had by refresh later.
    let (scopes, resources) = config::login_request(&settings.remote_apis, &its.scopes);
    let mut parameters = attempt.authorization_parameters(
        &its.client_id,
        &settings.redirect_uri(),
        &scopes,
        its.response_type,
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
    Ok(Either::Left(Redirect::found(url.to_string())))
}

/// A query value that says something.
fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// The page that lists the identity providers (each a link that starts a login there), with
/// an email field when some provider routes by domain.
fn choice(
    providers: &IdentityProviders,
    return_to: &str,
    status: Status,
    message: &str,
) -> (Status, View) {
    let return_to = crate::oidc::flow::normalize_return_to(Some(return_to));
    let listed: Vec<serde_json::Value> = providers
        .all()
        .iter()
        .map(|p| {
            let href = url::form_urlencoded::Serializer::new(String::from("/login?"))
                .append_pair("idp", &p.settings.name)
                .append_pair("returnTo", &return_to)
                .finish();
            serde_json::json!({"name": p.settings.name, "label": p.settings.label, "href": href})
        })
        .collect();
    let mut context = Context::new();
    context.insert("providers", &listed);
    context.insert("message", message);
    context.insert("return_to", &return_to);
    let email_routing = providers
        .all()
        .iter()
        .any(|p| !p.settings.email_domains.is_empty());
    context.insert("email_routing", &email_routing);
    (status, View::new("choose", context))
}
