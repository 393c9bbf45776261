//! A tiny resource server next to the IdP, so that an app's gateway has an API to call with no
//! other setup (`/demo-api/…`). It accepts the IdP's own access tokens (RFC 6750 Bearer, or
//! DPoP-bound ones with a proof, RFC 9449 §7):
//!
//! - `GET /demo-api/hello`: who the token is for, or a public greeting without a token;
//! - `GET /demo-api/sensitive`: needs a sign-in with the second factor (`acr=mfa`); a token
//!   from a password-only sign-in gets the RFC 9470 step-up challenge
//!   (`error="insufficient_user_authentication"`, `acr_values="mfa"`).
//!
//! An unknown or expired token gets `error="invalid_token"` (RFC 6750 §3.1), so a client can
//! refresh and retry.

use rocket::response::{self, Responder};
use rocket::serde::json::Json;
use rocket::{get, routes, Request, Response, Route};
use serde_json::{json, Value};

use crate::authorize::ACR_MFA;
use crate::resource::{self, Authorized, Challenge, ResourceRequest};
use crate::signing::Grant;
use crate::state::Idp;

/// Where the demo API is mounted.
pub const BASE_PATH: &str = "/demo-api";
/// The realm of its challenges.
const REALM: &str = "demo-api";

pub fn routes() -> Vec<Route> {
    routes![hello, sensitive]
}

/// The demo API's answers: JSON, never cached, or a challenge.
enum Answer {
    Ok(Value),
    Refused(Challenge),
}

impl<'r> Responder<'r, 'static> for Answer {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        match self {
            Answer::Ok(body) => Response::build_from(Json(body).respond_to(req)?)
                .raw_header("Cache-Control", "no-store")
                .ok(),
            Answer::Refused(challenge) => challenge.respond_to(req),
        }
    }
}

/// The token's grant: `Ok(None)` without a token, `Err` for a token it does not accept.
fn grant(request: &ResourceRequest<'_>, idp: &Idp) -> Result<Option<Authorized>, Answer> {
    resource::authorize(request, request.token.clone(), idp).map_err(|challenge| {
        Answer::Refused(Challenge {
            realm: Some(REALM),
            ..challenge
        })
    })
}

fn about(grant: &Grant) -> Value {
    json!({
        "api": "demo",
        "sub": grant.account.subject,
        "name": grant.account.name(),
        "acr": grant.acr,
        "scope": grant.scopes.join(" "),
    })
}

#[get("/hello")]
fn hello(request: ResourceRequest<'_>, idp: &Idp) -> Answer {
    match grant(&request, idp) {
        Err(refused) => refused,
        Ok(Some(authorized)) => Answer::Ok(about(&authorized.grant)),
        Ok(None) => Answer::Ok(json!({
            "api": "demo",
            "message": "Hello, anonymous caller: no access token came with this call.",
        })),
    }
}

#[get("/sensitive")]
fn sensitive(request: ResourceRequest<'_>, idp: &Idp) -> Answer {
    match grant(&request, idp) {
        Err(refused) => refused,
        Ok(None) => Answer::Refused(Challenge::unauthenticated(REALM)),
        // RFC 9470 §3, in the scheme the token was presented with.
        Ok(Some(authorized)) if authorized.grant.acr != ACR_MFA => Answer::Refused(Challenge {
            realm: Some(REALM),
            extra: Some(r#"acr_values="mfa""#),
            ..Challenge::new(
                authorized.scheme,
                "insufficient_user_authentication",
                "A sign-in with the second factor is required",
            )
        }),
        Ok(Some(authorized)) => {
            let mut body = about(&authorized.grant);
            body["secret"] = json!("the vault is open");
            Answer::Ok(body)
        }
    }
}
