//! The development IdP's back channel, called by the app's server and never by a browser: the
//! token endpoint (RFC 6749 §3.2: `authorization_code` with PKCE, `refresh_token`; tokens
//! bound to the key of a DPoP proof, RFC 9449 §5), UserInfo (OpenID Connect Core 5.3, with a
//! Bearer token per RFC 6750 or a DPoP-bound one) and revocation (RFC 7009). What they share
//! with the PAR endpoint (client authentication, errors) is in `oauth`.

use rocket::http::Status;
use rocket::response::{self, Responder};
use rocket::{get, post, routes, Request, Route};
use serde::Serialize;

use crate::discovery::{REVOCATION_PATH, TOKEN_PATH};
use crate::grants::Issued;
use crate::oauth::{authenticated, dpop_key, no_store, one, required, BackChannel, OAuthError};
use crate::params::Params;
use crate::resource::{self, Challenge, ResourceRequest, Scheme};
use crate::signing::IssuedWith;
use crate::state::{Idp, IdpState};

pub fn routes() -> Vec<Route> {
    routes![token, userinfo_get, userinfo_post, revoke]
}

/// A successful token response (RFC 6749 §5.1, Core 3.1.3.3).
#[derive(Debug, Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    scope: String,
}

impl<'r> Responder<'r, 'static> for TokenResponse {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let body = serde_json::to_value(&self).map_err(|_| Status::InternalServerError)?;
        no_store(req, Status::Ok, body)
    }
}

impl TokenResponse {
    fn new(issued: Issued, id_token: Option<String>) -> Self {
        Self {
            scope: issued.grant.scopes.join(" "),
            access_token: issued.access_token,
            token_type: if issued.jkt.is_some() {
                "DPoP"
            } else {
                "Bearer"
            },
            expires_in: issued.expires_in.as_secs(),
            refresh_token: issued.refresh_token,
            id_token,
        }
    }
}

/// The token endpoint (RFC 6749 §3.2, §4.1.3, §6).
#[post("/token", data = "<body>")]
async fn token(
    request: BackChannel<'_>,
    body: String,
    idp: &Idp,
) -> Result<TokenResponse, OAuthError> {
    // The proof first: a client told to use a nonce retries, and its assertion is not spent.
    let jkt = dpop_key(&request, idp, TOKEN_PATH)?;
    let jkt = jkt.as_deref();
    let (params, client_id) = authenticated(&request, &body, idp, TOKEN_PATH).await?;
    let client_id = client_id.as_str();
    match required(&params, "grant_type")? {
        "authorization_code" => {
            let mut issued = idp.grants.redeem_code(
                required(&params, "code")?,
                client_id,
                one(&params, "redirect_uri")?,
                one(&params, "code_verifier")?,
                jkt,
            )?;
            // Core 3.1.3.3: an ID token with `at_hash` for the new access token, signed with
            // the code; signed now only if that failed.
            let signed = match issued.id_token.take() {
                Some(id_token) => Ok(id_token),
                None => {
                    let with = IssuedWith {
                        access_token: Some(&issued.access_token),
                        ..IssuedWith::default()
                    };
                    idp.key.id_token(&idp.issuer, &issued.grant, with)
                }
            };
            match signed {
                Ok(id_token) => Ok(TokenResponse::new(issued, Some(id_token))),
                Err(error) => {
                    tracing::error!(%error, "development IdP could not mint an ID token");
                    idp.grants.revoke_family(issued.family);
                    Err(OAuthError::new(
                        "server_error",
                        "The development IdP could not sign the ID token.",
                    ))
                }
            }
        }
        "refresh_token" => {
            let issued = idp.grants.refresh(
                required(&params, "refresh_token")?,
                client_id,
                one(&params, "scope")?,
                jkt,
            )?;
            Ok(TokenResponse::new(issued, None))
        }
        other => Err(OAuthError::new(
            "unsupported_grant_type",
            format!(
                "grant_type `{other}` is not supported: use `authorization_code` or \
                 `refresh_token`."
            ),
        )),
    }
}

/// The answer of UserInfo: the claims, or a challenge (RFC 6750 §3, RFC 9449 §7.1).
pub enum UserInfo {
    Claims(serde_json::Value),
    Refused(Challenge),
}

impl<'r> Responder<'r, 'static> for UserInfo {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        match self {
            UserInfo::Claims(claims) => no_store(req, Status::Ok, claims),
            UserInfo::Refused(challenge) => challenge.respond_to(req),
        }
    }
}

/// UserInfo by GET, with `Authorization: Bearer …` (RFC 6750 §2.1) or `DPoP …` and a proof.
#[get("/userinfo")]
fn userinfo_get(request: ResourceRequest<'_>, idp: &Idp) -> UserInfo {
    let token = request.token.clone();
    userinfo(&request, token, idp)
}

/// UserInfo by POST: the header, or `access_token` in a form body (RFC 6750 §2.2), not both.
#[post("/userinfo", data = "<body>")]
fn userinfo_post(
    request: ResourceRequest<'_>,
    form: BackChannel<'_>,
    body: String,
    idp: &Idp,
) -> UserInfo {
    let in_body = if form.form {
        Params::parse(&body)
            .one("access_token")
            .map(|t| t.map(|t| (Scheme::Bearer, t.to_string())))
    } else {
        Ok(None)
    };
    let token = match (request.token.clone(), in_body) {
        (_, Err(_)) | (Some(_), Ok(Some(_))) => {
            return UserInfo::Refused(Challenge {
                status: Status::BadRequest,
                ..Challenge::new(
                    Scheme::Bearer,
                    "invalid_request",
                    "Send the access token once: in the Authorization header or in the body.",
                )
            })
        }
        (Some(header), Ok(None)) => Some(header),
        (None, Ok(body)) => body,
    };
    userinfo(&request, token, idp)
}

fn userinfo(
    request: &ResourceRequest<'_>,
    token: Option<(Scheme, String)>,
    idp: &IdpState,
) -> UserInfo {
    match resource::authorize(request, token, idp) {
        Err(challenge) => UserInfo::Refused(challenge),
        Ok(None) => UserInfo::Refused(Challenge::unauthenticated("development IdP")),
        Ok(Some(authorized)) => match serde_json::to_value(authorized.grant.userinfo()) {
            Ok(claims) => UserInfo::Claims(claims),
            Err(_) => UserInfo::Refused(Challenge {
                status: Status::InternalServerError,
                ..Challenge::new(
                    Scheme::Bearer,
                    "server_error",
                    "The claims could not be written.",
                )
            }),
        },
    }
}

/// Token revocation (RFC 7009 §2): 200 whether or not the token was known.
#[post("/revoke", data = "<body>")]
async fn revoke(request: BackChannel<'_>, body: String, idp: &Idp) -> Result<(), OAuthError> {
    let (params, client_id) = authenticated(&request, &body, idp, REVOCATION_PATH).await?;
    let token = required(&params, "token")?;
    // `token_type_hint` is only a hint (§2.1): both kinds are looked up anyway.
    one(&params, "token_type_hint")?;
    if idp.grants.revoke(token, &client_id) {
        tracing::debug!("development IdP revoked a token");
    }
    Ok(())
}
