//! The JSON API behind the page's buttons. Every route takes `ApiUser`, so a missing, expired
//! or tampered session is a 401 (scripts) or a redirect (navigations).

use std::borrow::Cow;
use std::time::Instant;

use rocket::http::{CookieJar, Status};
use rocket::response::{self, Responder};
use rocket::serde::json::{json, Json, Value};
use rocket::{get, routes, Request, Route, State};
use serde::Serialize;

use crate::clock;
use crate::config::Settings;
use crate::metrics;
use crate::oidc::provider::Provider;
use crate::oidc::providers::IdentityProviders;
use crate::oidc::token_endpoint::{Credential, TokenError};
use crate::session::{self, ApiUser, LoginRequired, Sessions};
use crate::store::StoreError;
use crate::token_keeper::{TokenKeeper, TokenUnavailable};

/// The `/api` routes.
pub fn routes() -> Vec<Route> {
    routes![hello, upstream]
}

/// `GET /api/hello`'s answer, serialized straight from the session (no intermediate `Value`).
#[derive(Serialize)]
struct Hello<'a> {
    message: String,
    sub: &'a str,
    name: Option<Cow<'a, str>>,
}

#[get("/hello")]
fn hello(user: ApiUser<'_>) -> Json<Hello<'_>> {
    let ApiUser(session) = user;
    let names = session.names();
    Json(Hello {
        message: format!("Hello, {}!", names.display(&session.sub)),
        sub: &session.sub,
        name: names.name,
    })
}

/// Why `/api/upstream` gives no answer of the API, in one place: each reason knows its status,
/// its JSON and its log line, so the handler says `?`.
#[derive(Debug, thiserror::Error)]
enum UpstreamFailure {
    /// Neither `UPSTREAM_API_URL` nor a UserInfo endpoint.
    #[error("no upstream API")]
    NoUpstream,
    /// An implicit-flow session: no access token to call with.
    #[error("no access token")]
    NoAccessToken,
    /// The session's tokens are gone or cannot be refreshed: the session has been ended.
    #[error("the session's tokens are gone")]
    SessionEnded,
    /// The store cannot be read or written: 503, the session stays.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The IdP or the API could not be reached, or answered something unusable.
    #[error(transparent)]
    Call(#[from] TokenError),
    /// The API answered with an error status.
    #[error("the upstream API answered {0}")]
    Status(u16),
}

impl<'r> Responder<'r, 'static> for UpstreamFailure {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let (status, body) = match &self {
            Self::NoUpstream => (
                Status::NotImplemented,
                json!({"error": "no_upstream", "message": "no UPSTREAM_API_URL is configured and the identity provider has no userinfo endpoint"}),
            ),
            Self::NoAccessToken => (
                Status::Conflict,
                json!({"error": "no_access_token", "message": "this session has no access token: the app logs in with response_type=id_token (set RESPONSE_TYPE=code to call APIs)"}),
            ),
            Self::SessionEnded => {
                let login = LoginRequired {
                    return_to: "/".into(),
                    redirect: false,
                };
                (
                    Status::Unauthorized,
                    json!({"error": "login_required", "login_url": login.login_url()}),
                )
            }
            Self::Store(error) => {
                tracing::error!(%error, "upstream call stopped: session store unavailable");
                (
                    Status::ServiceUnavailable,
                    json!({"error": "temporarily_unavailable", "message": "the session store is unavailable; try again in a moment"}),
                )
            }
            Self::Call(error) => {
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
            Self::Status(code) => (
                Status::BadGateway,
                json!({"error": "upstream_error", "status": code}),
            ),
        };
        (status, body).respond_to(req)
    }
}

/// Calls the upstream API (setting `upstream_api_url`, by default the IdP's UserInfo) with
/// the session's access token, refreshed first when it is about to expire, and relays its JSON.
#[get("/upstream")]
async fn upstream(
    user: ApiUser<'_>,
    jar: &CookieJar<'_>,
    settings: &State<Settings>,
    sessions: &State<Sessions>,
    keeper: &State<TokenKeeper>,
    providers: &State<IdentityProviders>,
) -> Result<Value, UpstreamFailure> {
    let ApiUser(session) = user;
    // The session's provider: its UserInfo, its client; never another provider's.
    let provider = providers
        .chosen(session.idp.as_deref())
        .map(|p| p.client.clone())
        .ok_or(UpstreamFailure::NoUpstream)?;
    let target = match settings.upstream_api_url.clone() {
        Some(url) => url,
        None => (provider.userinfo_endpoint().await).ok_or(UpstreamFailure::NoUpstream)?,
    };
    let lifetime = sessions.policy.absolute_lifetime;
    // Tokens that are gone end the session, so the page prompts for a new login.
    let ended = || async {
        session::end_unusable(jar, &sessions.policy, sessions.store.as_ref(), clock::now()).await;
        UpstreamFailure::SessionEnded
    };
    let credential = match keeper.access_token(&session.id, lifetime).await {
        Ok(credential) => credential,
        // With a code response type every session has tokens: missing ones were lost (e.g. a
        // restart with the memory store), so a new login is the way forward.
        Err(TokenUnavailable::NoTokens) if settings.response_type.uses_code() => {
            return Err(ended().await)
        }
        Err(TokenUnavailable::NoTokens) => return Err(UpstreamFailure::NoAccessToken),
        // (The session's own token is never refused as an API's audience is.)
        Err(TokenUnavailable::RefreshFailed(_) | TokenUnavailable::RefusedForApi(_)) => {
            return Err(ended().await)
        }
        Err(TokenUnavailable::Provider(error)) => return Err(error.into()),
        Err(TokenUnavailable::Store(error)) => return Err(error.into()),
    };
    let mut answer = call_upstream(&provider, target.clone(), &credential).await?;
    if answer.0 == 401 {
        // RFC 6750 §3.1: the token was refused before its expiry (revoked): refresh once.
        let renewed = match keeper
            .replace_rejected(&session.id, &credential.token, lifetime)
            .await
        {
            Ok(renewed) => renewed,
            Err(TokenUnavailable::Provider(error)) => return Err(error.into()),
            Err(TokenUnavailable::Store(error)) => return Err(error.into()),
            Err(_) => return Err(ended().await),
        };
        answer = call_upstream(&provider, target, &renewed).await?;
    }
    match answer {
        (status, body) if (200..300).contains(&status) => Ok(body),
        (status, _) => Err(UpstreamFailure::Status(status)),
    }
}

/// One call to the upstream API, counted in the metrics (as `upstream`).
async fn call_upstream(
    provider: &Provider,
    target: url::Url,
    credential: &Credential,
) -> Result<(u16, Value), TokenError> {
    let started = Instant::now();
    let answer = provider.get_with_token(target, credential).await;
    let status = answer.as_ref().map_or(0, |(status, _)| *status);
    metrics::upstream_call("upstream", status, started.elapsed());
    answer
}
