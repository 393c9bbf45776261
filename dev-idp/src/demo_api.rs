//! A tiny resource server next to the IdP, so that an app's gateway has an API to call with no
//! other setup (`/demo-api/…`). It accepts the IdP's own access tokens (RFC 6750 Bearer):
//!
//! - `GET /demo-api/hello`: who the token is for, or a public greeting without a token;
//! - `GET /demo-api/sensitive`: needs a sign-in with the second factor (`acr=mfa`); a token
//!   from a password-only sign-in gets the RFC 9470 step-up challenge
//!   (`error="insufficient_user_authentication"`, `acr_values="mfa"`).
//!
//! An unknown or expired token gets `error="invalid_token"` (RFC 6750 §3.1), so a client can
//! refresh and retry.

use rocket::http::{Header, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::response::{self, Responder};
use rocket::serde::json::Json;
use rocket::{get, routes, Request, Response, Route};
use serde_json::{json, Value};

use crate::authorize::ACR_MFA;
use crate::state::Idp;
use crate::tokens::Grant;

/// Where the demo API is mounted.
pub const BASE_PATH: &str = "/demo-api";

pub fn routes() -> Vec<Route> {
    routes![hello, sensitive]
}

/// The Bearer token of the request, if any (the scheme is case-insensitive).
struct BearerToken(Option<String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for BearerToken {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        let token = req
            .headers()
            .get_one("Authorization")
            .and_then(|value| value.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_string())
            .filter(|token| !token.is_empty());
        Outcome::Success(BearerToken(token))
    }
}

/// The demo API's answers: JSON, never cached, with a Bearer challenge on a 401.
enum Answer {
    Ok(Value),
    Challenge(&'static str, Value),
}

impl<'r> Responder<'r, 'static> for Answer {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let (status, challenge, body) = match self {
            Answer::Ok(body) => (Status::Ok, None, body),
            Answer::Challenge(challenge, body) => (Status::Unauthorized, Some(challenge), body),
        };
        let mut response = Response::build_from(Json(body).respond_to(req)?)
            .status(status)
            .raw_header("Cache-Control", "no-store")
            .finalize();
        if let Some(challenge) = challenge {
            response.set_header(Header::new("WWW-Authenticate", challenge));
        }
        Ok(response)
    }
}

const NO_TOKEN: &str = r#"Bearer realm="demo-api""#;
const INVALID_TOKEN: &str = r#"Bearer realm="demo-api", error="invalid_token", error_description="The access token is unknown, expired or revoked""#;
const STEP_UP: &str = r#"Bearer realm="demo-api", error="insufficient_user_authentication", error_description="A sign-in with the second factor is required", acr_values="mfa""#;

/// The grant behind the token: `Ok(None)` without a token, `Err` for a token it does not know.
fn grant(token: BearerToken, idp: &Idp) -> Result<Option<std::sync::Arc<Grant>>, Answer> {
    match token.0 {
        None => Ok(None),
        Some(token) => idp
            .grants
            .access(&token)
            .map(Some)
            .ok_or_else(|| Answer::Challenge(INVALID_TOKEN, json!({"error": "invalid_token"}))),
    }
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
fn hello(token: BearerToken, idp: &Idp) -> Answer {
    match grant(token, idp) {
        Err(refused) => refused,
        Ok(Some(grant)) => Answer::Ok(about(&grant)),
        Ok(None) => Answer::Ok(json!({
            "api": "demo",
            "message": "Hello, anonymous caller: no access token came with this call.",
        })),
    }
}

#[get("/sensitive")]
fn sensitive(token: BearerToken, idp: &Idp) -> Answer {
    match grant(token, idp) {
        Err(refused) => refused,
        Ok(None) => Answer::Challenge(NO_TOKEN, json!({"error": "invalid_request"})),
        Ok(Some(grant)) if grant.acr != ACR_MFA => Answer::Challenge(
            STEP_UP,
            json!({"error": "insufficient_user_authentication"}),
        ),
        Ok(Some(grant)) => {
            let mut body = about(&grant);
            body["secret"] = json!("the vault is open");
            Answer::Ok(body)
        }
    }
}
