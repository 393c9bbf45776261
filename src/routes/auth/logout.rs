//! `POST /logout`: ends the session here (and its tokens at the IdP), then RP-Initiated Logout
//! at the IdP when it offers it. Refused when the browser marks the request as cross-site.

use rocket::http::{CookieJar, Status};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::response::{self, Redirect, Responder};
use rocket::{post, routes, Route, State};

use crate::clock;
use crate::config::Settings;
use crate::oidc::providers::IdentityProviders;
use crate::routes::errors::{request_id, ErrorPage};
use crate::session::{self, Sessions};
use crate::store::StoreError;
use crate::token_keeper::TokenKeeper;

pub(super) fn routes() -> Vec<Route> {
    routes![logout]
}

#[post("/logout")]
async fn logout(
    _same_origin: SameOrigin,
    jar: &CookieJar<'_>,
    providers: &State<IdentityProviders>,
    settings: &State<Settings>,
    sessions: &State<Sessions>,
    keeper: &State<TokenKeeper>,
) -> Result<Redirect, LogoutNotRecorded> {
    let ended = session::end(jar, &sessions.policy, sessions.store.as_ref(), clock::now())
        .await
        .map_err(LogoutNotRecorded)?;
    let mut id_token_hint = None;
    if let Some(session) = &ended {
        id_token_hint = session::take_id_token(jar, &sessions.policy, &session.id);
        // RFC 7009: the refresh token dies with the session.
        keeper.revoke_and_forget(&session.id).await;
    }
    // RP-Initiated Logout at the provider the session came from (none when it is no longer
    // configured).
    let chosen = match &ended {
        Some(session) => providers.chosen(session.idp.as_deref()),
        None => providers.chosen(None),
    };
    let Some(chosen) = chosen else {
        return Ok(Redirect::to("/"));
    };
    let end_session = match chosen.client.snapshot().await {
        Ok(snapshot) => snapshot.metadata.end_session_endpoint.clone(),
        Err(_) => None,
    };
    let Some(mut url) = end_session else {
        return Ok(Redirect::to("/"));
    };
    // RP-Initiated Logout 1.0 §2.
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("client_id", &chosen.settings.client_id)
            .append_pair(
                "post_logout_redirect_uri",
                &settings.post_logout_redirect_uri(),
            );
        if let Some(hint) = &id_token_hint {
            query.append_pair("id_token_hint", hint);
        }
    }
    Ok(Redirect::to(url.to_string()))
}

/// The store could not record the logout: 503, the session cookie kept so the user can try
/// again (a logout that only deleted the browser's cookie would leave its copies working).
#[derive(Debug)]
struct LogoutNotRecorded(StoreError);

impl<'r> Responder<'r, 'static> for LogoutNotRecorded {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        tracing::error!(request_id = %request_id(req), error = %self.0, "logout not carried out: the session store could not record it");
        ErrorPage::new(
            Status::ServiceUnavailable,
            "Logout is unavailable",
            "Your logout could not be recorded, so you are still logged in. Please try again in a moment.",
        )
        .respond_to(req)
    }
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
            crate::metrics::csrf_refusal(req.route().map_or("-", |route| route.uri.as_str()));
            tracing::warn!(request_id = %request_id(req), "cross-site request refused");
            Outcome::Error((Status::Forbidden, ()))
        }
    }
}
