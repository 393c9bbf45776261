//! The browser pages: the start page (works logged in or out) and the profile.

use rocket::http::{ContentType, Cookie, CookieJar, SameSite, Status};
use rocket::response::Redirect;
use rocket::{get, routes, Either, Route, State};
use rocket_dyn_templates::{context, Metadata, Template};
use serde::Serialize;
use serde_json::{Map, Value};

use super::start_page::StartPage;
use crate::clock;
use crate::config::Settings;
use crate::oidc::providers::IdentityProviders;
use crate::session::{self, Sessions, User};
use crate::token_keeper::{TokenKeeper, TokenUnavailable};

/// The HTML pages.
pub fn routes() -> Vec<Route> {
    routes![index, profile]
}

/// The remote API the start page's third and fourth buttons call (the development IdP's demo
/// API when `cargo run` starts it; any API configured under this name otherwise).
const DEMO_API: &str = "demo";

/// The cookie that remembers a silent login was tried in this browser session.
const SILENT_LOGIN_TRIED: &str = "bff_silent_login_tried";

#[get("/")]
fn index(
    user: Option<User<'_>>,
    jar: &CookieJar<'_>,
    settings: &State<Settings>,
    page: &State<StartPage>,
    templates: Metadata<'_>,
) -> Result<Either<(ContentType, String), Redirect>, Status> {
    if settings.silent_login && user.is_none() && jar.get(SILENT_LOGIN_TRIED).is_none() {
        // Once per browser session (a cookie without Max-Age), as express-openid-connect's
        // `attemptSilentLogin`: the next visit is served whatever the IdP answered.
        let tried = Cookie::build((SILENT_LOGIN_TRIED, "1"))
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(settings.cookies_secure())
            .path("/");
        jar.add(tried);
        return Ok(Either::Right(Redirect::to(
            "/login?prompt=none&returnTo=%2F",
        )));
    }
    let names = user
        .as_ref()
        .map(|User(session)| (session.names(), &session.sub));
    let name = names.as_ref().map(|(names, sub)| names.display(sub));
    let demo_api = settings.remote_apis.iter().any(|api| api.name == DEMO_API);
    page.render(&templates, name, demo_api).map(Either::Left)
}

/// One row of the profile table.
#[derive(Serialize)]
struct ClaimRow {
    name: String,
    value: String,
}

#[get("/profile")]
async fn profile(
    user: User<'_>,
    jar: &CookieJar<'_>,
    keeper: &State<TokenKeeper>,
    sessions: &State<Sessions>,
    providers: &State<IdentityProviders>,
) -> Result<Template, Redirect> {
    let User(session) = user;
    // UserInfo of the provider the session came from, never another's.
    let provider = providers
        .chosen(session.idp.as_deref())
        .map(|p| p.client.clone());
    let claims = session.claims();
    let rows = claim_rows(&claims);
    // With an access token, the IdP's UserInfo is shown next to the ID token's claims.
    let userinfo = match keeper
        .access_token(&session.id, sessions.policy.absolute_lifetime)
        .await
    {
        Ok(credential) => match &provider {
            Some(provider) => provider
                .userinfo(&credential)
                .await
                .ok()
                .map(|claims| claim_rows(&claims)),
            None => None,
        },
        Err(TokenUnavailable::RefreshFailed(_)) => {
            // The IdP ended the grant: so ends the session, and the user logs in again.
            session::end_unusable(jar, &sessions.policy, sessions.store.as_ref(), clock::now())
                .await;
            return Err(Redirect::to("/login?returnTo=%2Fprofile"));
        }
        Err(_) => None,
    };
    let picture = claims
        .get("picture")
        .and_then(Value::as_str)
        .filter(|url| url.starts_with("https://") || url.starts_with("http://"))
        .map(str::to_string);
    Ok(Template::render(
        "profile",
        context! {
            user: session.display_name(),
            picture,
            claims: rows,
            userinfo,
            provider: providers
                .chosen(session.idp.as_deref())
                .map(|p| p.settings.label.clone()),
        },
    ))
}

fn claim_rows(claims: &Map<String, Value>) -> Vec<ClaimRow> {
    claims
        .iter()
        .map(|(name, value)| ClaimRow {
            name: name.clone(),
            value: display_claim(name, value),
        })
        .collect()
}

/// Timestamps become readable UTC times; strings are shown bare; the rest as JSON.
fn display_claim(name: &str, value: &Value) -> String {
    const TIME_CLAIMS: &[&str] = &["iat", "exp", "auth_time", "updated_at", "nbf"];
    match value {
        Value::Number(n) if TIME_CLAIMS.contains(&name) => n
            .as_i64()
            .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc2822)
                    .ok()
            })
            .map(|t| format!("{t} ({n})"))
            .unwrap_or_else(|| n.to_string()),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_shown_as_readable_times() {
        let shown = display_claim("iat", &Value::from(0));
        assert!(shown.starts_with("Thu, 01 Jan 1970 00:00:00"), "{shown}");
        assert_eq!(display_claim("name", &Value::from("Alice")), "Alice");
        assert_eq!(display_claim("email_verified", &Value::from(true)), "true");
    }
}
