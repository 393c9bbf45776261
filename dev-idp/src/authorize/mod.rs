//! The authentication request (OpenID Connect Core 3.1.2.1 / 3.2.2.1) as the development IdP
//! reads it, and the errors it answers with. Pure: no Rocket, no HTML.
//!
//! Error handling follows RFC 6749 4.1.2.1 and Core 3.1.2.6: as long as the client and its
//! redirect URI are not verified, the error is shown at the IdP and the browser is never sent
//! anywhere; once they are, errors go back to the redirect URI (form_post) with `state`.

use crate::clients::{quoted, Clients};
use crate::params::Params;

mod request;

pub use request::{AuthorizationRequest, Prompt, ResponseType, ACR_MFA, ACR_PASSWORD};

/// Why a request is refused, and where the answer goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// The client or its redirect URI cannot be trusted: an error page at the IdP.
    AtIdp { message: String },
    /// An error response POSTed back to the verified redirect URI.
    ToClient(ErrorResponse),
}

/// An OAuth 2.0 error response (RFC 6749 4.1.2.1), sent by form_post.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorResponse {
    pub redirect_uri: String,
    pub error: &'static str,
    pub description: String,
    pub state: Option<String>,
}

impl ErrorResponse {
    pub fn new(
        redirect_uri: &str,
        state: Option<&str>,
        error: &'static str,
        description: impl Into<String>,
    ) -> Self {
        Self {
            redirect_uri: redirect_uri.to_string(),
            error,
            description: description.into(),
            state: state.map(str::to_string),
        }
    }
}

/// Checks an authentication request against the registered clients.
pub fn check(params: &Params, clients: &Clients) -> Result<AuthorizationRequest, Rejection> {
    let at_idp = |message: String| Rejection::AtIdp { message };
    // 1. The client and its redirect URI: until both are verified, nothing is redirected.
    let client_id = params
        .one("client_id")
        .map_err(|d| at_idp(format!("The parameter `{}` was sent more than once.", d.0)))?
        .ok_or_else(|| at_idp("The request has no client_id.".into()))?;
    let client = clients.get(client_id).ok_or_else(|| {
        at_idp(format!(
            "Unknown client_id `{client_id}`: this development IdP knows {}.",
            clients.names()
        ))
    })?;
    let redirect_uri = params
        .one("redirect_uri")
        .map_err(|d| at_idp(format!("The parameter `{}` was sent more than once.", d.0)))?
        .ok_or_else(|| at_idp("The request has no redirect_uri.".into()))?;
    if !client.redirect_uris.iter().any(|uri| uri == redirect_uri) {
        return Err(at_idp(format!(
            "The redirect_uri `{redirect_uri}` is not registered for this client: only {} {}.",
            quoted(&client.redirect_uris),
            if client.redirect_uris.len() == 1 {
                "is"
            } else {
                "are"
            },
        )));
    }
    // 2. From here on, errors go back to the client, with its state.
    let state = params.one("state").ok().flatten();
    let back = |error: &'static str, description: String| {
        Rejection::ToClient(ErrorResponse::new(redirect_uri, state, error, description))
    };
    let invalid = |description: String| back("invalid_request", description);
    let one = |name: &str| {
        params
            .one(name)
            .map_err(|d| invalid(format!("The parameter `{}` was sent more than once.", d.0)))
    };
    one("state")?;
    for (name, error) in [
        ("request", "request_not_supported"),
        ("request_uri", "request_uri_not_supported"),
        ("registration", "registration_not_supported"),
    ] {
        if one(name)?.is_some() {
            return Err(back(error, format!("`{name}` is not supported.")));
        }
    }
    let response_type =
        one("response_type")?.ok_or_else(|| invalid("The request has no response_type.".into()))?;
    let response_type = ResponseType::parse(response_type).ok_or_else(|| {
        back(
            "unsupported_response_type",
            format!(
                "response_type `{response_type}` is not supported: use `id_token`, `code` or \
                 `code id_token`."
            ),
        )
    })?;
    match one("response_mode")? {
        Some("form_post") => {}
        Some(other) => {
            return Err(invalid(format!(
                "response_mode `{other}` is not supported: use `form_post`."
            )))
        }
        None => return Err(invalid("response_mode=form_post is required.".into())),
    }
    let scopes: Vec<String> = one("scope")?
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(back(
            "invalid_scope",
            "The scope must include `openid`.".into(),
        ));
    }
    let nonce = one("nonce")?.map(str::to_string);
    if nonce.is_none() && response_type.front_channel_id_token() {
        return Err(invalid(format!(
            "A nonce is required with response_type={}.",
            response_type.as_str()
        )));
    }
    let code_challenge = if response_type.uses_code() {
        Some(check_pkce(one("code_challenge")?, one("code_challenge_method")?).map_err(invalid)?)
    } else {
        None
    };
    let prompt = parse_prompt(one("prompt")?).map_err(invalid)?;
    let dpop_jkt = one("dpop_jkt")?.map(str::to_string);
    if dpop_jkt.as_deref().is_some_and(|jkt| !is_sha256_b64(jkt)) {
        return Err(invalid(
            "dpop_jkt is not a base64url SHA-256 thumbprint (43 characters).".into(),
        ));
    }
    let max_age = one("max_age")?
        .map(|v| v.parse::<u64>())
        .transpose()
        .map_err(|_| invalid("max_age must be a number of seconds.".into()))?;
    Ok(AuthorizationRequest {
        client_id: client_id.to_string(),
        redirect_uri: redirect_uri.to_string(),
        response_type,
        scopes,
        state: state.map(str::to_string),
        nonce,
        code_challenge,
        prompt,
        max_age,
        login_hint: one("login_hint")?.map(str::to_string),
        acr_values: one("acr_values")?
            .unwrap_or_default()
            .split(' ')
            .filter(|value| !value.is_empty())
            .map(str::to_string)
            .collect(),
        dpop_jkt,
        pushed: None,
    })
}

/// A SHA-256 digest in base64url without padding: 43 characters of its alphabet.
fn is_sha256_b64(text: &str) -> bool {
    text.len() == 43
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The only PKCE method this IdP accepts: `plain` would let a stolen challenge redeem the code.
pub const S256: &str = "S256";

/// RFC 7636 4.3: a code needs `code_challenge` with `code_challenge_method=S256`. An S256
/// challenge is a SHA-256 digest in base64url without padding, so exactly 43 characters.
fn check_pkce(challenge: Option<&str>, method: Option<&str>) -> Result<String, String> {
    let challenge = challenge.ok_or(
        "PKCE is required for a code: send code_challenge with code_challenge_method=S256.",
    )?;
    match method {
        Some(S256) => {}
        Some(other) => {
            return Err(format!(
                "code_challenge_method `{other}` is not supported: use `S256`."
            ))
        }
        None => {
            return Err(
                "code_challenge_method=S256 is required (the default, `plain`, is not supported)."
                    .into(),
            )
        }
    }
    if !is_sha256_b64(challenge) {
        return Err("code_challenge is not a base64url SHA-256 digest (43 characters).".into());
    }
    Ok(challenge.to_string())
}

fn parse_prompt(value: Option<&str>) -> Result<Prompt, String> {
    let values: Vec<&str> = value
        .unwrap_or_default()
        .split(' ')
        .filter(|v| !v.is_empty())
        .collect();
    let none = values.contains(&"none");
    if none && values.len() > 1 {
        return Err("prompt=none cannot be combined with other values.".into());
    }
    Ok(Prompt {
        none,
        login: values.contains(&"login") || values.contains(&"select_account"),
    })
}

#[cfg(test)]
mod tests;
