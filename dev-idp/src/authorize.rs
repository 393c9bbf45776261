//! The authentication request (OpenID Connect Core 3.1.2.1 / 3.2.2.1) as the development IdP
//! reads it, and the errors it answers with. Pure: no Rocket, no HTML.
//!
//! Error handling follows RFC 6749 4.1.2.1 and Core 3.1.2.6: as long as the client and its
//! redirect URI are not verified, the error is shown at the IdP and the browser is never sent
//! anywhere; once they are, errors go back to the redirect URI (form_post) with `state`.

use crate::clients::{quoted, Clients};
use crate::params::Params;

/// The response types this IdP can answer: implicit, authorization code, and the hybrid of
/// the two (Core 3.1, 3.2, 3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    /// `id_token`: the ID token comes back through the browser.
    IdToken,
    /// `code`: a one-time code for the token endpoint.
    Code,
    /// `code id_token`: both, the ID token bound to the code by `c_hash`.
    CodeIdToken,
}

impl ResponseType {
    /// Reads the space-separated words in any order.
    pub fn parse(text: &str) -> Option<Self> {
        let mut words: Vec<&str> = text.split_whitespace().collect();
        words.sort_unstable();
        match words.as_slice() {
            ["id_token"] => Some(Self::IdToken),
            ["code"] => Some(Self::Code),
            ["code", "id_token"] => Some(Self::CodeIdToken),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdToken => "id_token",
            Self::Code => "code",
            Self::CodeIdToken => "code id_token",
        }
    }

    pub fn uses_code(self) -> bool {
        self != Self::IdToken
    }

    /// Whether an ID token goes back through the browser.
    pub fn front_channel_id_token(self) -> bool {
        self != Self::Code
    }
}

/// `prompt` (Core 3.1.2.1), the values this IdP acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Prompt {
    /// `none`: answer without showing anything, or `login_required`.
    pub none: bool,
    /// `login` (or `select_account`): ask for the password even within an IdP session.
    pub login: bool,
}

/// A checked authentication request.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub response_type: ResponseType,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    /// Required when an ID token comes back through the browser; optional with `code`.
    pub nonce: Option<String>,
    /// PKCE (RFC 7636) S256 challenge, present exactly when the response has a code.
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<u64>,
    pub login_hint: Option<String>,
}

impl AuthorizationRequest {
    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }

    /// The fields the sign-in form carries so that its POST is the same request again.
    pub fn form_fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("client_id", self.client_id.clone()),
            ("redirect_uri", self.redirect_uri.clone()),
            ("response_type", self.response_type.as_str().to_string()),
            ("response_mode", "form_post".to_string()),
            ("scope", self.scope()),
        ];
        if let Some(nonce) = &self.nonce {
            fields.push(("nonce", nonce.clone()));
        }
        if let Some(challenge) = &self.code_challenge {
            fields.push(("code_challenge", challenge.clone()));
            fields.push(("code_challenge_method", S256.to_string()));
        }
        if let Some(state) = &self.state {
            fields.push(("state", state.clone()));
        }
        fields
    }
}

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
    })
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
    let well_formed = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
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
mod tests {
    use super::*;
    use crate::clients::Client;

    fn client() -> Clients {
        Clients::new(vec![
            Client::for_app("another-app", "its-secret", "http://localhost:4100"),
            Client::for_app("oidc-bff-dev", "s3cret", "http://localhost:3000"),
        ])
    }

    fn valid() -> Vec<(&'static str, &'static str)> {
        vec![
            ("client_id", "oidc-bff-dev"),
            ("redirect_uri", "http://localhost:3000/callback"),
            ("response_type", "id_token"),
            ("response_mode", "form_post"),
            ("scope", "openid profile email"),
            ("state", "s1"),
            ("nonce", "n1"),
        ]
    }

    fn with(changes: &[(&'static str, Option<&'static str>)]) -> Params {
        let mut pairs = valid();
        for (name, value) in changes {
            pairs.retain(|(n, _)| n != name);
            if let Some(value) = value {
                pairs.push((name, value));
            }
        }
        Params::from_pairs(pairs.into_iter().map(|(n, v)| (n.into(), v.into())))
    }

    fn error_code(result: Result<AuthorizationRequest, Rejection>) -> &'static str {
        match result {
            Err(Rejection::ToClient(response)) => {
                assert_eq!(response.state.as_deref(), Some("s1"));
                assert_eq!(response.redirect_uri, "http://localhost:3000/callback");
                response.error
            }
            other => panic!("expected an error for the client, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_request_is_accepted() {
        let request = check(&with(&[]), &client()).unwrap();
        assert_eq!(request.response_type, ResponseType::IdToken);
        assert_eq!(request.scope(), "openid profile email");
        assert_eq!(request.state.as_deref(), Some("s1"));
        assert_eq!(request.prompt, Prompt::default());
    }

    #[test]
    fn an_untrusted_client_or_redirect_uri_is_answered_at_the_idp() {
        for changes in [
            vec![("client_id", Some("other"))],
            vec![("client_id", None)],
            vec![("redirect_uri", Some("https://evil.example/callback"))],
            vec![("redirect_uri", Some("http://localhost:3000/callback/"))],
            vec![("redirect_uri", Some("http://LOCALHOST:3000/callback"))],
            // Another registered client's redirect URI is not this client's.
            vec![("redirect_uri", Some("http://localhost:4100/callback"))],
            vec![("redirect_uri", None)],
            // Both wrong and an unsupported response type: still never redirected.
            vec![
                ("redirect_uri", Some("https://evil.example/")),
                ("response_type", Some("code")),
            ],
        ] {
            assert!(
                matches!(
                    check(&with(&changes), &client()),
                    Err(Rejection::AtIdp { .. })
                ),
                "{changes:?}"
            );
        }
        let mut pairs = valid();
        pairs.push(("redirect_uri", "https://evil.example/callback"));
        let params = Params::from_pairs(pairs.into_iter().map(|(n, v)| (n.into(), v.into())));
        assert!(matches!(
            check(&params, &client()),
            Err(Rejection::AtIdp { .. })
        ));
    }

    #[test]
    fn other_errors_go_back_to_the_client_with_their_code() {
        type Changes = &'static [(&'static str, Option<&'static str>)];
        let cases: [(Changes, &str); 10] = [
            (
                &[("response_type", Some("token"))],
                "unsupported_response_type",
            ),
            (
                &[("response_type", Some("code token"))],
                "unsupported_response_type",
            ),
            (
                &[("response_type", Some("id_token token"))],
                "unsupported_response_type",
            ),
            (&[("response_type", None)], "invalid_request"),
            (&[("response_mode", Some("query"))], "invalid_request"),
            (&[("response_mode", None)], "invalid_request"),
            (&[("scope", Some("profile email"))], "invalid_scope"),
            (&[("nonce", None)], "invalid_request"),
            (&[("prompt", Some("none login"))], "invalid_request"),
            (&[("request", Some("eyJ..."))], "request_not_supported"),
        ];
        for (changes, expected) in cases {
            assert_eq!(
                error_code(check(&with(changes), &client())),
                expected,
                "{changes:?}"
            );
        }
    }

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn code_requests_carry_an_s256_challenge_and_need_a_nonce_only_with_an_id_token() {
        for (response_type, expected) in [
            ("code", ResponseType::Code),
            ("code id_token", ResponseType::CodeIdToken),
            ("id_token code", ResponseType::CodeIdToken),
        ] {
            let request = check(
                &with(&[
                    ("response_type", Some(response_type)),
                    ("code_challenge", Some(CHALLENGE)),
                    ("code_challenge_method", Some("S256")),
                ]),
                &client(),
            )
            .unwrap();
            assert_eq!(request.response_type, expected);
            assert_eq!(request.code_challenge.as_deref(), Some(CHALLENGE));
            let fields = request.form_fields();
            assert!(fields.contains(&("response_type", expected.as_str().to_string())));
            assert!(fields.contains(&("code_challenge", CHALLENGE.to_string())));
            assert!(fields.contains(&("code_challenge_method", "S256".to_string())));
        }
        let pkce = [
            ("code_challenge", Some(CHALLENGE)),
            ("code_challenge_method", Some("S256")),
        ];
        let code_without_nonce = [
            &pkce[..],
            &[("response_type", Some("code")), ("nonce", None)],
        ];
        let request = check(&with(&code_without_nonce.concat()), &client()).unwrap();
        assert_eq!(request.nonce, None);
        assert!(!request.form_fields().iter().any(|(n, _)| *n == "nonce"));
        let hybrid_without_nonce = [
            &pkce[..],
            &[("response_type", Some("code id_token")), ("nonce", None)],
        ];
        assert_eq!(
            error_code(check(&with(&hybrid_without_nonce.concat()), &client())),
            "invalid_request"
        );
        // An implicit request ignores PKCE parameters.
        let implicit = check(&with(&pkce), &client()).unwrap();
        assert_eq!(implicit.code_challenge, None);
    }

    #[test]
    fn a_code_without_an_s256_challenge_is_an_invalid_request() {
        let too_short = &CHALLENGE[..42];
        let not_base64url = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM";
        for changes in [
            vec![],
            vec![("code_challenge", Some(CHALLENGE))],
            vec![
                ("code_challenge", Some(CHALLENGE)),
                ("code_challenge_method", Some("plain")),
            ],
            vec![("code_challenge_method", Some("S256"))],
            vec![
                ("code_challenge", Some(too_short)),
                ("code_challenge_method", Some("S256")),
            ],
            vec![
                ("code_challenge", Some(not_base64url)),
                ("code_challenge_method", Some("S256")),
            ],
        ] {
            let mut changes = changes;
            changes.push(("response_type", Some("code")));
            assert_eq!(
                error_code(check(&with(&changes), &client())),
                "invalid_request",
                "{changes:?}"
            );
        }
    }

    #[test]
    fn prompt_login_and_none_are_understood() {
        let login = check(&with(&[("prompt", Some("login"))]), &client()).unwrap();
        assert!(login.prompt.login && !login.prompt.none);
        let none = check(&with(&[("prompt", Some("none"))]), &client()).unwrap();
        assert!(none.prompt.none && !none.prompt.login);
    }
}
