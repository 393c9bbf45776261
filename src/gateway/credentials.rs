//! The token a call through the gateway carries: the one the API's policy asks for, obtained
//! for the API's own audience (`resource`, `scopes`) when it has one (refreshed first when due,
//! or after the API refused it), or the answer that ends the call when there is none to be
//! had: never a token obtained for another audience in its place.

use rocket::http::Status;
use rocket::request;
use rocket::route::Outcome;
use rocket::Request;

use super::answer::answer;
use crate::config::{RemoteApi, Settings, TokenPolicy};
use crate::hooks::in_group;
use crate::oidc::provider::Provider;
use crate::oidc::token_endpoint::{Credential, TokenError};
use crate::session::{self, ApiUser, Sessions};
use crate::token_keeper::{TokenKeeper, TokenUnavailable};

/// An API with `allowed_groups` takes calls only from sessions with one of them (in
/// `GROUPS_CLAIM`): without a session the call is refused as for a `user` API, with one
/// outside the groups it is refused with 403, and nothing goes upstream either way.
pub(super) async fn check_caller<'r>(
    api: &RemoteApi,
    req: &'r Request<'_>,
) -> Result<(), Outcome<'r>> {
    let Some(groups) = &api.allowed_groups else {
        return Ok(());
    };
    let session = match req.guard::<ApiUser<'r>>().await {
        request::Outcome::Success(ApiUser(session)) => session,
        request::Outcome::Error((status, _)) | request::Outcome::Forward(status) => {
            return Err(Outcome::Error(status))
        }
    };
    let claim = req
        .rocket()
        .state::<Settings>()
        .map_or("groups", |settings| settings.access.groups_claim.as_str());
    if groups.iter().any(|group| in_group(session, claim, group)) {
        return Ok(());
    }
    tracing::info!(api = %api.name, "remote API call refused: not in its allowed groups");
    Err(answer(
        req,
        Status::Forbidden,
        "forbidden",
        "your account is not allowed to call this API",
    ))
}

/// The token a call carries, and whose it is: only a user's token is refreshed when the API
/// refuses it.
pub(super) struct Presented {
    pub(super) credential: Credential,
    pub(super) of_user: bool,
}

/// The access token the API's policy asks for, refreshed first when due; or the answer
/// that ends the call (no session, no token, store or IdP down).
pub(super) async fn access_token<'r>(
    api: &RemoteApi,
    req: &'r Request<'_>,
) -> Result<Option<Presented>, Outcome<'r>> {
    if api.token == TokenPolicy::None {
        return Ok(None);
    }
    if api.token == TokenPolicy::Client {
        return client_token(api, req).await.map(Some);
    }
    let session = match (api.token, req.guard::<ApiUser<'r>>().await) {
        (_, request::Outcome::Success(ApiUser(session))) => session,
        (_, request::Outcome::Error((Status::ServiceUnavailable, _))) => {
            return Err(Outcome::Error(Status::ServiceUnavailable))
        }
        (TokenPolicy::UserOrNone, _) => return Ok(None),
        (TokenPolicy::UserOrClient, _) => return client_token(api, req).await.map(Some),
        (_, request::Outcome::Error((status, _)) | request::Outcome::Forward(status)) => {
            return Err(Outcome::Error(status))
        }
    };
    let (Some(keeper), Some(sessions)) = (
        req.rocket().state::<TokenKeeper>(),
        req.rocket().state::<Sessions>(),
    ) else {
        return Ok(None);
    };
    let user_token = |credential| {
        Some(Presented {
            credential,
            of_user: true,
        })
    };
    let lifetime = sessions.policy.absolute_lifetime;
    match keeper
        .access_token_for(&session.id, api.audience.as_ref(), lifetime)
        .await
    {
        Ok(token) => Ok(user_token(token)),
        Err(TokenUnavailable::NoTokens) if api.token == TokenPolicy::UserOrNone => Ok(None),
        Err(TokenUnavailable::NoTokens) if api.token == TokenPolicy::UserOrClient => {
            client_token(api, req).await.map(Some)
        }
        Err(error) => Err(token_unavailable(req, error).await),
    }
}

/// The app's own token for the API's audience, or the answer when the IdP will not give one
/// (503 unreachable, 502 refused: a configuration matter).
async fn client_token<'r>(api: &RemoteApi, req: &'r Request<'_>) -> Result<Presented, Outcome<'r>> {
    let (Some(provider), Some(settings)) = (
        req.rocket().state::<std::sync::Arc<Provider>>(),
        req.rocket().state::<Settings>(),
    ) else {
        return Err(Outcome::Error(Status::ServiceUnavailable));
    };
    match provider
        .client_token(settings.refresh_margin, api.audience.as_ref())
        .await
    {
        Ok(credential) => Ok(Presented {
            credential,
            of_user: false,
        }),
        Err(error) => {
            tracing::warn!(%error, "no client token for a remote API call");
            let (status, message) = match error {
                TokenError::Provider(_) => (
                    Status::ServiceUnavailable,
                    "the identity provider cannot give the app a token right now",
                ),
                _ => (
                    Status::BadGateway,
                    "the identity provider refused the app a token",
                ),
            };
            Err(answer(req, status, "temporarily_unavailable", message))
        }
    }
}

/// After the API refused `rejected`: a refreshed token for the API's audience, or the answer
/// that ends the call.
pub(super) async fn replace_rejected<'r>(
    api: &RemoteApi,
    req: &'r Request<'_>,
    rejected: &str,
) -> Result<Credential, Outcome<'r>> {
    let session = match req.guard::<ApiUser<'r>>().await {
        request::Outcome::Success(ApiUser(session)) => session,
        _ => return Err(Outcome::Error(Status::Unauthorized)),
    };
    let (Some(keeper), Some(sessions)) = (
        req.rocket().state::<TokenKeeper>(),
        req.rocket().state::<Sessions>(),
    ) else {
        return Err(Outcome::Error(Status::Unauthorized));
    };
    let lifetime = sessions.policy.absolute_lifetime;
    match keeper
        .replace_rejected_for(&session.id, api.audience.as_ref(), rejected, lifetime)
        .await
    {
        Ok(token) => Ok(token),
        Err(error) => Err(token_unavailable(req, error).await),
    }
}

/// Why no token: tokens gone or refused → the session ends (401, the page asks to log in);
/// an id_token session never had one → 409; the IdP refused the API's audience → 502 (the
/// session stays); store or IdP down → 503.
async fn token_unavailable<'r>(req: &'r Request<'_>, error: TokenUnavailable) -> Outcome<'r> {
    let uses_code = req
        .rocket()
        .state::<Settings>()
        .is_some_and(|settings| settings.response_type.uses_code());
    match error {
        TokenUnavailable::NoTokens if !uses_code => answer(
            req,
            Status::Conflict,
            "no_access_token",
            "this session has no access token: the app logs in with response_type=id_token (set RESPONSE_TYPE=code to call APIs)",
        ),
        TokenUnavailable::NoTokens | TokenUnavailable::RefreshFailed(_) => {
            if let Some(sessions) = req.rocket().state::<Sessions>() {
                session::end_unusable(
                    req.cookies(),
                    &sessions.policy,
                    sessions.store.as_ref(),
                    crate::clock::now(),
                )
                .await;
            }
            answer(
                req,
                Status::Unauthorized,
                "login_required",
                "the session's tokens are no longer valid: log in again",
            )
        }
        TokenUnavailable::RefusedForApi(_) => answer(
            req,
            Status::BadGateway,
            "temporarily_unavailable",
            "the identity provider refused a token for this API (its resource or scopes)",
        ),
        TokenUnavailable::Provider(error) => {
            tracing::warn!(%error, "no access token for a remote API call");
            answer(
                req,
                Status::ServiceUnavailable,
                "temporarily_unavailable",
                "the identity provider cannot refresh the access token right now",
            )
        }
        TokenUnavailable::Store(error) => {
            tracing::error!(%error, "remote API call stopped: session store unavailable");
            answer(
                req,
                Status::ServiceUnavailable,
                "temporarily_unavailable",
                "the session store is unavailable; try again in a moment",
            )
        }
    }
}
