//! What the client-authenticated back-channel endpoints share (token, revocation, PAR): the
//! request's headers, the RFC 6749 §5.2 error response, and client authentication by secret
//! (`client_secret_basic`, `client_secret_post`) or by `private_key_jwt`.

use rocket::http::{Header, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::response::{self, Responder};
use rocket::serde::json::Json;
use rocket::{Request, Response};
use serde_json::json;

use crate::client_assertion::{self, ASSERTION_TYPE};
use crate::client_auth::{self, ClientAuthError};
use crate::dpop::{self, Dpop, DpopError, ProofContext};
use crate::grants::GrantError;
use crate::params::Params;
use crate::state::IdpState;

/// What the back-channel endpoints read from the request besides its body.
pub struct BackChannel<'r> {
    pub authorization: Option<&'r str>,
    /// Whether the body is `application/x-www-form-urlencoded`, as RFC 6749 requires.
    pub form: bool,
    /// The values of its `DPoP` headers (RFC 9449): one proof, or none.
    pub dpop: Vec<&'r str>,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for BackChannel<'r> {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        Outcome::Success(BackChannel {
            authorization: req.headers().get_one("Authorization"),
            form: req.content_type().is_some_and(|ct| ct.is_form()),
            dpop: req.headers().get(dpop::HEADER).collect(),
        })
    }
}

/// An error response of the token, revocation or PAR endpoint (RFC 6749 §5.2).
#[derive(Debug)]
pub struct OAuthError {
    status: Status,
    error: &'static str,
    description: String,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> Self {
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

    pub fn invalid_request(description: impl Into<String>) -> Self {
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
            GrantError::DpopKey(why) => Self::new("invalid_dpop_proof", why),
        }
    }
}

impl From<DpopError> for OAuthError {
    fn from(error: DpopError) -> Self {
        match error {
            DpopError::Invalid(why) => Self::new("invalid_dpop_proof", why),
            DpopError::UseNonce(why) => Self::new("use_dpop_nonce", why),
        }
    }
}

/// JSON that must not be cached: token responses and their errors (RFC 6749 §5.1).
pub fn no_store(
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

/// The form body's parameters and the authenticated client's id, or the error to answer with.
/// `path`: the endpoint's path, whose URL a client assertion's `aud` may name.
pub async fn authenticated(
    request: &BackChannel<'_>,
    body: &str,
    idp: &IdpState,
    path: &str,
) -> Result<(Params, String), OAuthError> {
    if !request.form {
        return Err(OAuthError::invalid_request(
            "The body must be application/x-www-form-urlencoded.",
        ));
    }
    let params = Params::parse(body);
    let assertion_type = one(&params, "client_assertion_type")?;
    let assertion = one(&params, "client_assertion")?;
    let client = match (assertion_type, assertion) {
        (None, None) => {
            let client = client_auth::authenticate(request.authorization, &params, &idp.clients)?;
            if client.uses_private_key_jwt() {
                return Err(OAuthError::new(
                    "invalid_client",
                    "This client is registered for private_key_jwt: authenticate with a \
                     client_assertion.",
                ));
            }
            client
        }
        (Some(ASSERTION_TYPE), Some(assertion)) => {
            if request.authorization.is_some() || one(&params, "client_secret")?.is_some() {
                return Err(OAuthError::invalid_request(
                    "The client authenticated twice (a client_assertion and a secret): use one \
                     method.",
                ));
            }
            let failed = |why: String| OAuthError::new("invalid_client", why);
            let claimed = client_assertion::claimed_client(assertion).map_err(failed)?;
            if one(&params, "client_id")?.is_some_and(|id| id != claimed) {
                return Err(failed(
                    "client_id differs from the client_assertion's issuer.".into(),
                ));
            }
            let client = idp
                .clients
                .get(&claimed)
                .ok_or_else(|| failed("Unknown client.".into()))?;
            let endpoint = idp.endpoint(path);
            let audiences = [idp.issuer.as_str(), endpoint.as_str()];
            idp.assertions
                .verify(assertion, client, &audiences)
                .await
                .map_err(failed)?;
            client
        }
        (Some(other), Some(_)) => {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type `{other}` is not supported: use `{ASSERTION_TYPE}`."
            )))
        }
        _ => {
            return Err(OAuthError::invalid_request(
                "client_assertion and client_assertion_type go together.",
            ))
        }
    };
    Ok((params, client.client_id.clone()))
}

/// The thumbprint of the request's DPoP proof for the endpoint at `path`, or `None` without a
/// proof (the tokens are then Bearer tokens).
pub fn dpop_key(
    request: &BackChannel<'_>,
    idp: &IdpState,
    path: &str,
) -> Result<Option<String>, OAuthError> {
    let Some(proof) = Dpop::single(&request.dpop)? else {
        return Ok(None);
    };
    let url = idp.endpoint(path);
    let context = ProofContext {
        method: "POST",
        url: &url,
        access_token: None,
    };
    Ok(Some(idp.dpop.check(proof, &context)?))
}

pub fn one<'p>(params: &'p Params, name: &str) -> Result<Option<&'p str>, OAuthError> {
    params.one(name).map_err(|d| {
        OAuthError::invalid_request(format!("The parameter `{}` was sent more than once.", d.0))
    })
}

pub fn required<'p>(params: &'p Params, name: &str) -> Result<&'p str, OAuthError> {
    one(params, name)?
        .ok_or_else(|| OAuthError::invalid_request(format!("The parameter `{name}` is missing.")))
}
