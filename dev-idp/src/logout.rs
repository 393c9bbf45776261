//! RP-Initiated Logout 1.0 at the development IdP: ends its session (telling the clients through
//! the back channel) and returns to a client's registered post-logout URI.

use rocket::http::uri::Origin;
use rocket::http::{Cookie, CookieJar, Status};
use rocket::response::Redirect;
use rocket::{get, post, Either};

use crate::backchannel_logout;
use crate::clients::{quoted, Client};
use crate::http::Page;
use crate::pages;
use crate::params::Params;
use crate::sessions;
use crate::state::{Idp, IdpState};

/// RP-Initiated Logout 1.0 by GET.
#[get("/end_session")]
pub fn end_session_get(uri: &Origin<'_>, jar: &CookieJar<'_>, idp: &Idp) -> Either<Redirect, Page> {
    end_session(
        &Params::parse(uri.query().map(|q| q.as_str()).unwrap_or_default()),
        jar,
        idp,
    )
}

/// RP-Initiated Logout 1.0 by POST (the specification asks for both).
#[post("/end_session", data = "<body>")]
pub fn end_session_post(body: String, jar: &CookieJar<'_>, idp: &Idp) -> Either<Redirect, Page> {
    end_session(&Params::parse(&body), jar, idp)
}

/// Ends the IdP session and returns to the client, but only to its registered
/// post-logout URI and only when the client is identified; an invalid request changes nothing.
fn end_session(params: &Params, jar: &CookieJar<'_>, idp: &IdpState) -> Either<Redirect, Page> {
    let refuse = |message: String| {
        Either::Right(Page(
            Status::BadRequest,
            pages::error("Logout request refused", &message),
        ))
    };
    let mut values = Vec::new();
    for name in [
        "client_id",
        "id_token_hint",
        "post_logout_redirect_uri",
        "state",
    ] {
        match params.one(name) {
            Ok(value) => values.push(value),
            Err(duplicate) => {
                return refuse(format!(
                    "The parameter `{}` was sent more than once.",
                    duplicate.0
                ))
            }
        }
    }
    let [client_id, hint, post_logout_redirect_uri, state] = values[..] else {
        return refuse("The request could not be read.".into());
    };
    // The client: named by client_id, or by the audience of an ID token we signed, or both.
    let named = match client_id {
        Some(id) => match idp.clients.get(id) {
            Some(client) => Some(client),
            None => return refuse(format!("Unknown client_id `{id}`.")),
        },
        None => None,
    };
    let client: Option<&Client> = match hint {
        None => named,
        Some(hint) => {
            let mut candidates: Vec<&Client> = match named {
                Some(client) => vec![client],
                None => idp.clients.iter().collect(),
            };
            let mut refusal = String::from("no client is registered");
            candidates.retain(|client| {
                match idp.key.verify_hint(hint, &idp.issuer, &client.client_id) {
                    Ok(_) => true,
                    Err(error) => {
                        refusal = error.to_string();
                        false
                    }
                }
            });
            match candidates.first() {
                Some(client) => Some(*client),
                None => return refuse(format!("The id_token_hint is not acceptable: {refusal}.")),
            }
        }
    };
    let redirect = match (post_logout_redirect_uri, client) {
        (None, _) => None,
        (Some(uri), Some(client))
            if !client.post_logout_redirect_uris.iter().any(|u| u == uri) =>
        {
            return refuse(format!(
                "The post_logout_redirect_uri `{uri}` is not registered for `{}` (registered: {}).",
                client.client_id,
                quoted(&client.post_logout_redirect_uris)
            ))
        }
        (Some(uri), Some(_)) => Some(uri),
        (Some(_), None) => {
            return refuse(
                "A post_logout_redirect_uri needs the client to be named by client_id or id_token_hint."
                    .into(),
            )
        }
    };
    if let Some(cookie) = jar.get(sessions::COOKIE) {
        if let Some(ended) = idp.sessions.end(cookie.value()) {
            backchannel_logout::session_ended(idp, &ended);
        }
    }
    jar.remove(Cookie::build(sessions::COOKIE).path("/"));
    let Some(uri) = redirect else {
        return Either::Right(Page(
            Status::Ok,
            pages::signed_out("You are signed out of the development identity provider."),
        ));
    };
    let Ok(mut url) = url::Url::parse(uri) else {
        return refuse("The post_logout_redirect_uri is not a URL.".into());
    };
    if let Some(state) = state {
        url.query_pairs_mut().append_pair("state", state);
    }
    Either::Left(Redirect::to(url.to_string()))
}
