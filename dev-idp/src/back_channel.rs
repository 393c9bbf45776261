//! The development IdP's back channel, called by the app's server and never by a browser: the
//! token endpoint (RFC 6749 §3.2: `authorization_code` with PKCE, `refresh_token`), UserInfo
//! (OpenID Connect Core 5.3, with a Bearer token per RFC 6750) and revocation (RFC 7009).

use rocket::http::{Header, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::response::{self, Responder};
use rocket::serde::json::Json;
use rocket::{get, post, routes, Request, Response, Route};
use serde::Serialize;
use serde_json::json;

use crate::client_auth::{self, ClientAuthError};
use crate::grants::{GrantError, Issued};
use crate::params::Params;
use crate::state::{Idp, IdpState};
use crate::tokens::IssuedWith;

pub fn routes() -> Vec<Route> {
    routes![token, userinfo_get, userinfo_post, revoke]
}

/// What the back-channel endpoints read from the request besides its body.
struct BackChannel<'r> {
    authorization: Option<&'r str>,
    /// Whether the body is `application/x-www-form-urlencoded`, as RFC 6749 requires.
    form: bool,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for BackChannel<'r> {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        Outcome::Success(BackChannel {
            authorization: req.headers().get_one("Authorization"),
            form: req.content_type().is_some_and(|ct| ct.is_form()),
        })
    }
}

/// An error response of the token or revocation endpoint (RFC 6749 §5.2).
#[derive(Debug)]
pub struct OAuthError {
    status: Status,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        let status = match error {
            "invalid_client" => Status::Unauthorized,
            "server_error" => Status::InternalServerError,
            _ => Status::BadRequest,
        };
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }
}

impl From<ClientAuthError> for OAuthError {
    fn from(error: ClientAuthError) -> Self {
        match error {
            ClientAuthError::Malformed(why) => Self::invalid_request(why),
            ClientAuthError::Failed(why) => Self::new("invalid_client", why),
        }
    }
}

impl From<GrantError> for OAuthError {
    fn from(error: GrantError) -> Self {
        match error {
            GrantError::Invalid(why) => Self::new("invalid_grant", why),
            GrantError::Malformed(why) => Self::invalid_request(why),
            GrantError::ScopeNotGranted(why) => Self::new("invalid_scope", why),
        }
    }
}

/// JSON that must not be cached: token responses and their errors (RFC 6749 §5.1).
fn no_store(
    req: &Request<'_>,
    status: Status,
    body: serde_json::Value,
) -> response::Result<'static> {
    Response::build_from(Json(body).respond_to(req)?)
        .status(status)
        .raw_header("Cache-Control", "no-store")
        .raw_header("Pragma", "no-cache")
        .ok()
}

impl<'r> Responder<'r, 'static> for OAuthError {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        tracing::debug!(error = self.error, reason = %self.description, "development IdP refused a back-channel request");
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = no_store(req, self.status, body)?;
        if self.status == Status::Unauthorized {
            // RFC 6749 §5.2: the scheme the client can authenticate with.
            response.set_header(Header::new(
                "WWW-Authenticate",
                r#"Basic realm="development IdP", charset="UTF-8""#,
            ));
        }
        Ok(response)
    }
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
            token_type: "Bearer",
            expires_in: issued.expires_in.as_secs(),
            refresh_token: issued.refresh_token,
            id_token,
        }
    }
}

/// The form body's parameters and the authenticated client's id, or the error to answer with.
fn authenticated(
    request: &BackChannel<'_>,
    body: &str,
    idp: &IdpState,
) -> Result<(Params, String), OAuthError> {
    if !request.form {
        return Err(OAuthError::invalid_request(
            "The body must be application/x-www-form-urlencoded.",
        ));
    }
    let params = Params::parse(body);
    let client = client_auth::authenticate(request.authorization, &params, &idp.clients)?;
    Ok((params, client.client_id.clone()))
}

fn one<'p>(params: &'p Params, name: &str) -> Result<Option<&'p str>, OAuthError> {
    params.one(name).map_err(|d| {
        OAuthError::invalid_request(format!("The parameter `{}` was sent more than once.", d.0))
    })
}

fn required<'p>(params: &'p Params, name: &str) -> Result<&'p str, OAuthError> {
    one(params, name)?
        .ok_or_else(|| OAuthError::invalid_request(format!("The parameter `{name}` is missing.")))
}

/// The token endpoint (RFC 6749 §3.2, §4.1.3, §6).
#[post("/token", data = "<body>")]
fn token(request: BackChannel<'_>, body: String, idp: &Idp) -> Result<TokenResponse, OAuthError> {
    let (params, client_id) = authenticated(&request, &body, idp)?;
    let client_id = client_id.as_str();
    match required(&params, "grant_type")? {
        "authorization_code" => {
            let issued = idp.grants.redeem_code(
                required(&params, "code")?,
                client_id,
                one(&params, "redirect_uri")?,
                one(&params, "code_verifier")?,
            )?;
            // Core 3.1.3.3: an ID token with `at_hash` for the new access token.
            let with = IssuedWith {
                access_token: Some(&issued.access_token),
                ..IssuedWith::default()
            };
            match idp.key.id_token(&idp.issuer, &issued.grant, with) {
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

/// The answer of UserInfo: the claims, or a Bearer challenge (RFC 6750 §3).
pub enum UserInfo {
    Claims(serde_json::Value),
    /// No access token at all: a challenge without an error code (RFC 6750 §3.1).
    Unauthenticated,
    Refused {
        status: Status,
        error: &'static str,
        description: &'static str,
    },
}

impl<'r> Responder<'r, 'static> for UserInfo {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let (status, challenge, body) = match self {
            UserInfo::Claims(claims) => return no_store(req, Status::Ok, claims),
            UserInfo::Unauthenticated => (
                Status::Unauthorized,
                r#"Bearer realm="development IdP""#.to_string(),
                json!({"error": "invalid_request", "error_description": "An access token is required."}),
            ),
            UserInfo::Refused {
                status,
                error,
                description,
            } => (
                status,
                format!(r#"Bearer error="{error}", error_description="{description}""#),
                json!({"error": error, "error_description": description}),
            ),
        };
        let mut response = no_store(req, status, body)?;
        response.set_header(Header::new("WWW-Authenticate", challenge));
        Ok(response)
    }
}

/// UserInfo by GET, with `Authorization: Bearer …` (RFC 6750 §2.1).
#[get("/userinfo")]
fn userinfo_get(request: BackChannel<'_>, idp: &Idp) -> UserInfo {
    userinfo(bearer(request.authorization), idp)
}

/// UserInfo by POST: the header, or `access_token` in a form body (RFC 6750 §2.2), not both.
#[post("/userinfo", data = "<body>")]
fn userinfo_post(request: BackChannel<'_>, body: String, idp: &Idp) -> UserInfo {
    let in_body = if request.form {
        Params::parse(&body)
            .one("access_token")
            .map(|t| t.map(str::to_string))
    } else {
        Ok(None)
    };
    let token = match (bearer(request.authorization), in_body) {
        (_, Err(_)) | (Some(_), Ok(Some(_))) => {
            return UserInfo::Refused {
                status: Status::BadRequest,
                error: "invalid_request",
                description:
                    "Send the access token once: in the Authorization header or in the body.",
            }
        }
        (Some(header), Ok(None)) => Some(header),
        (None, Ok(body)) => body,
    };
    userinfo(token, idp)
}

/// The token of an `Authorization: Bearer …` header (the scheme is case-insensitive).
fn bearer(authorization: Option<&str>) -> Option<String> {
    let (scheme, token) = authorization?.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

fn userinfo(token: Option<String>, idp: &IdpState) -> UserInfo {
    let Some(token) = token else {
        return UserInfo::Unauthenticated;
    };
    match idp.grants.access(&token) {
        Some(grant) => match serde_json::to_value(grant.userinfo()) {
            Ok(claims) => UserInfo::Claims(claims),
            Err(_) => UserInfo::Refused {
                status: Status::InternalServerError,
                error: "server_error",
                description: "The claims could not be written.",
            },
        },
        None => UserInfo::Refused {
            status: Status::Unauthorized,
            error: "invalid_token",
            description: "The access token is unknown, expired or revoked.",
        },
    }
}

/// Token revocation (RFC 7009 §2): 200 whether or not the token was known.
#[post("/revoke", data = "<body>")]
fn revoke(request: BackChannel<'_>, body: String, idp: &Idp) -> Result<(), OAuthError> {
    let (params, client_id) = authenticated(&request, &body, idp)?;
    let token = required(&params, "token")?;
    // `token_type_hint` is only a hint (§2.1): both kinds are looked up anyway.
    one(&params, "token_type_hint")?;
    if idp.grants.revoke(token, &client_id) {
        tracing::debug!("development IdP revoked a token");
    }
    Ok(())
}
