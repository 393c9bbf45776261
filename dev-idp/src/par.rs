//! Pushed authorization requests (RFC 9126): the client posts the request's parameters to
//! `/par` with its client authentication and gets a one-time `request_uri`; `/authorize` then
//! takes `client_id` and `request_uri` only. While the user signs in (password, second
//! factor), the sign-in form carries another handle to the same request, valid until the
//! sign-in ends, so the pushed parameters are never re-posted by the browser.

use std::time::Duration;

use rocket::http::Status;
use rocket::response::{self, Responder};
use rocket::{post, routes, Request, Route};
use serde_json::json;

use crate::authorize::{self, Rejection};
use crate::discovery::PAR_PATH;
use crate::oauth::{authenticated, dpop_key, no_store, BackChannel, OAuthError};
use crate::params::Params;
use crate::state::Idp;

/// Parameters of the client authentication, not of the authorization request.
const AUTHENTICATION: &[&str] = &[
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
];

pub fn routes() -> Vec<Route> {
    routes![push]
}

/// `201 {"request_uri": …, "expires_in": …}` (RFC 9126 §2.2).
struct Pushed(String, Duration);

impl<'r> Responder<'r, 'static> for Pushed {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let body = json!({"request_uri": self.0, "expires_in": self.1.as_secs()});
        no_store(req, Status::Created, body)
    }
}

/// The pushed authorization request endpoint (RFC 9126 §2).
#[post("/par", data = "<body>")]
async fn push(request: BackChannel<'_>, body: String, idp: &Idp) -> Result<Pushed, OAuthError> {
    // RFC 9449 §10.1: a proof binds the code to its key, as `dpop_jkt` would.
    let jkt = dpop_key(&request, idp, PAR_PATH)?;
    let (params, client_id) = authenticated(&request, &body, idp, PAR_PATH).await?;
    if let Some(jkt) = &jkt {
        if params
            .one("dpop_jkt")
            .ok()
            .flatten()
            .is_some_and(|sent| sent != jkt)
        {
            return Err(OAuthError::new(
                "invalid_dpop_proof",
                "dpop_jkt is not the thumbprint of the DPoP proof's key.",
            ));
        }
    }
    if params.contains("request_uri") {
        return Err(OAuthError::invalid_request(
            "request_uri cannot be pushed (RFC 9126 §2.1).",
        ));
    }
    let mut pairs: Vec<(String, String)> = params
        .into_pairs()
        .into_iter()
        .filter(|(name, _)| !AUTHENTICATION.contains(&name.as_str()))
        .collect();
    pairs.push(("client_id".into(), client_id.clone()));
    if let Some(jkt) = jkt {
        pairs.retain(|(name, _)| name != "dpop_jkt");
        pairs.push(("dpop_jkt".into(), jkt));
    }
    // The same rules as at /authorize; every error is a JSON error here (RFC 9126 §2.3).
    match authorize::check(&Params::from_pairs(pairs.clone()), &idp.clients) {
        Ok(_) => {}
        Err(Rejection::AtIdp { message }) => return Err(OAuthError::invalid_request(message)),
        Err(Rejection::ToClient(response)) => {
            return Err(OAuthError::new(response.error, response.description))
        }
    }
    let (uri, lifetime) = idp.par.push(&client_id, pairs);
    Ok(Pushed(uri, lifetime))
}
