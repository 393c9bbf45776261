//! Access tokens at the IdP's resources (UserInfo and the demo API): Bearer tokens (RFC 6750)
//! and DPoP-bound ones (RFC 9449 §7), and the `WWW-Authenticate` challenges of each scheme.

use std::sync::Arc;

use rocket::http::{Header, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::response::{self, Responder};
use rocket::Request;
use serde_json::{json, Value};

use crate::dpop::{self, Dpop, DpopError, ProofContext};
use crate::oauth::no_store;
use crate::signing::Grant;
use crate::state::IdpState;

/// How an access token was presented, and so which challenge a refusal carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer …` (RFC 6750).
    Bearer,
    /// `Authorization: DPoP …` with a `DPoP` proof (RFC 9449 §7.1).
    Dpop,
}

/// What a resource reads from the request: its token, proofs, method and URL path.
pub struct ResourceRequest<'r> {
    /// The token and its scheme, from `Authorization` (schemes are case-insensitive).
    pub token: Option<(Scheme, String)>,
    proofs: Vec<&'r str>,
    method: &'static str,
    path: String,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ResourceRequest<'r> {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        let authorization = req.headers().get_one("Authorization");
        let token = authorization
            .and_then(|value| value.trim().split_once(' '))
            .and_then(|(scheme, token)| {
                let token = token.trim();
                let scheme = if scheme.eq_ignore_ascii_case("bearer") {
                    Scheme::Bearer
                } else if scheme.eq_ignore_ascii_case("dpop") {
                    Scheme::Dpop
                } else {
                    return None;
                };
                (!token.is_empty()).then(|| (scheme, token.to_string()))
            });
        Outcome::Success(ResourceRequest {
            token,
            proofs: req.headers().get(dpop::HEADER).collect(),
            method: req.method().as_str(),
            path: req.uri().path().to_string(),
        })
    }
}

/// A refusal at a resource: status, scheme and error for `WWW-Authenticate` and the body.
#[derive(Debug)]
pub struct Challenge {
    pub status: Status,
    pub scheme: Scheme,
    /// `None`: no credentials were sent, a bare challenge (RFC 6750 §3.1).
    pub error: Option<&'static str>,
    pub description: String,
    /// More auth-params, e.g. `acr_values="mfa"` (RFC 9470).
    pub extra: Option<&'static str>,
    /// The `realm` of the challenge, if it names one.
    pub realm: Option<&'static str>,
}

impl Challenge {
    /// A 401 for `scheme` with `error`.
    pub fn new(scheme: Scheme, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: Status::Unauthorized,
            scheme,
            error: Some(error),
            description: description.into(),
            extra: None,
            realm: None,
        }
    }

    /// A 401 without an error code: no access token came (RFC 6750 §3.1).
    pub fn unauthenticated(realm: &'static str) -> Self {
        Self {
            error: None,
            description: "An access token is required.".into(),
            realm: Some(realm),
            ..Self::new(Scheme::Bearer, "invalid_request", "")
        }
    }

    fn header(&self) -> String {
        let mut params: Vec<String> = self
            .realm
            .map(|realm| format!(r#"realm="{realm}""#))
            .into_iter()
            .collect();
        if self.scheme == Scheme::Dpop {
            params.push(format!(
                r#"algs="{}""#,
                crate::client_jws::ALGORITHMS.join(" ")
            ));
        }
        if let Some(error) = self.error {
            params.push(format!(r#"error="{error}""#));
            // A quoted-string of printable ASCII: parts of it may come from the request.
            let description: String = self
                .description
                .chars()
                .map(|c| match c {
                    ' '..='~' if c != '"' && c != '\\' => c,
                    _ => '?',
                })
                .collect();
            params.push(format!(r#"error_description="{description}""#));
        }
        params.extend(self.extra.map(str::to_string));
        let scheme = match self.scheme {
            Scheme::Bearer => "Bearer",
            Scheme::Dpop => "DPoP",
        };
        format!("{scheme} {}", params.join(", "))
    }
}

impl<'r> Responder<'r, 'static> for Challenge {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let body: Value = json!({
            "error": self.error.unwrap_or("invalid_request"),
            "error_description": self.description,
        });
        let mut response = no_store(req, self.status, body)?;
        response.set_header(Header::new("WWW-Authenticate", self.header()));
        Ok(response)
    }
}

/// A token accepted at a resource: what it grants and how it was presented.
pub struct Authorized {
    pub grant: Arc<Grant>,
    pub scheme: Scheme,
}

/// Checks the request's token (`token`, when it came another way than the header, e.g. in a
/// UserInfo form body: a Bearer token). `Ok(None)`: no token at all.
pub fn authorize(
    request: &ResourceRequest<'_>,
    token: Option<(Scheme, String)>,
    idp: &IdpState,
) -> Result<Option<Authorized>, Challenge> {
    // Another scheme (or none) is no access token here (RFC 6750 §3.1).
    let Some((scheme, token)) = token else {
        return Ok(None);
    };
    let unknown = || {
        Challenge::new(
            scheme,
            "invalid_token",
            "The access token is unknown, expired or revoked",
        )
    };
    if scheme == Scheme::Bearer {
        let access = idp.grants.access_with_binding(&token).ok_or_else(unknown)?;
        if access.jkt.is_some() {
            return Err(Challenge::new(
                Scheme::Dpop,
                "invalid_token",
                "The access token is DPoP-bound: present it with the DPoP scheme and a proof",
            ));
        }
        return Ok(Some(Authorized {
            grant: access.grant,
            scheme,
        }));
    }
    let refused = |error: DpopError| match error {
        DpopError::Invalid(why) => Challenge::new(Scheme::Dpop, "invalid_dpop_proof", why),
        DpopError::UseNonce(why) => Challenge::new(Scheme::Dpop, "use_dpop_nonce", why),
    };
    let Some(proof) = Dpop::single(&request.proofs).map_err(refused)? else {
        return Err(Challenge::new(
            Scheme::Dpop,
            "invalid_dpop_proof",
            "A DPoP-bound access token needs a DPoP proof",
        ));
    };
    let url = idp.endpoint(&request.path);
    let context = ProofContext {
        method: request.method,
        url: &url,
        access_token: Some(&token),
    };
    let jkt = idp.dpop.check(proof, &context).map_err(refused)?;
    let access = idp.grants.access_with_binding(&token).ok_or_else(unknown)?;
    match access.jkt {
        Some(bound) if bound == jkt => Ok(Some(Authorized {
            grant: access.grant,
            scheme,
        })),
        Some(_) => Err(Challenge::new(
            Scheme::Dpop,
            "invalid_dpop_proof",
            "The DPoP proof is not made with the key the access token is bound to",
        )),
        None => Err(Challenge::new(
            Scheme::Dpop,
            "invalid_token",
            "The access token is not DPoP-bound: present it as a Bearer token",
        )),
    }
}
