//! The JSON API behind the page's buttons. Every route takes `ApiUser`, so a missing, expired
//! or tampered session is a 401 (scripts) or a redirect (navigations).

use std::sync::Arc;

use rocket::http::{CookieJar, Status};
use rocket::serde::json::{json, Value};
use rocket::{get, routes, Route, State};

use crate::clock;
use crate::config::Settings;
use crate::oidc::provider::Provider;
use crate::oidc::tokens::TokenError;
use crate::session::{self, ApiUser, LoginRequired, Sessions};
use crate::tokens::{TokenKeeper, TokenUnavailable};

pub fn routes() -> Vec<Route> {
    routes![hello, upstream]
}

#[get("/hello")]
fn hello(user: ApiUser) -> Value {
    let ApiUser(session) = user;
    json!({
        "message": format!("Hello, {}!", session.display_name()),
        "sub": session.sub,
        "name": session.claims.get("name"),
    })
}

type JsonAnswer = (Status, Value);

/// Calls the upstream API (setting `upstream_api_url`, by default the IdP's UserInfo) with
/// the session's access token, refreshed first when it is about to expire, and relays its JSON.
#[get("/upstream")]
async fn upstream(
    user: ApiUser,
    jar: &CookieJar<'_>,
    settings: &State<Settings>,
    sessions: &State<Sessions>,
    keeper: &State<TokenKeeper>,
    provider: &State<Arc<Provider>>,
) -> JsonAnswer {
    let ApiUser(session) = user;
    let target = match settings.upstream_api_url.clone() {
        Some(url) => Some(url),
        None => provider.userinfo_endpoint().await,
    };
    let Some(target) = target else {
        return (
            Status::NotImplemented,
            json!({"error": "no_upstream", "message": "no UPSTREAM_API_URL is configured and the identity provider has no userinfo endpoint"}),
        );
    };
    let access_token = match keeper
        .access_token(&session.id, sessions.policy.absolute_lifetime)
        .await
    {
        Ok(token) => token,
        Err(TokenUnavailable::NoTokens) => {
            return (
                Status::Conflict,
                json!({"error": "no_access_token", "message": "this session has no access token: the app logs in with response_type=id_token (set RESPONSE_TYPE=code to call APIs)"}),
            );
        }
        Err(TokenUnavailable::RefreshFailed(_)) => {
            // The tokens are gone: end the session so the page prompts for a new login.
            session::end(jar, &sessions.policy, sessions.store.as_ref(), clock::now()).await;
            let login = LoginRequired {
                return_to: "/".into(),
                redirect: false,
            };
            return (
                Status::Unauthorized,
                json!({"error": "login_required", "login_url": login.login_url()}),
            );
        }
        Err(TokenUnavailable::Provider(error)) => return unavailable(&error),
    };
    match provider.get_with_bearer(target, &access_token).await {
        Ok((status, body)) if (200..300).contains(&status) => (Status::Ok, body),
        Ok((status, _)) => (
            Status::BadGateway,
            json!({"error": "upstream_error", "status": status}),
        ),
        Err(error) => unavailable(&error),
    }
}

fn unavailable(error: &TokenError) -> JsonAnswer {
    tracing::warn!(%error, "upstream call failed");
    let status = match error {
        TokenError::Provider(_) => Status::ServiceUnavailable,
        _ => Status::BadGateway,
    };
    (
        status,
        json!({"error": "upstream_unavailable", "message": error.to_string()}),
    )
}
