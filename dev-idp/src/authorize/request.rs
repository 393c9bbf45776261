//! The parts of an authentication request (OpenID Connect Core 3.1.2.1) as the IdP keeps them
//! once checked.

use super::S256;

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
    /// Requested authentication context classes, in order of preference (Core 3.1.2.1).
    pub acr_values: Vec<String>,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code is bound to.
    pub dpop_jkt: Option<String>,
    /// For a pushed request (RFC 9126): the handle its sign-in form carries instead of the
    /// parameters.
    pub pushed: Option<String>,
}

impl AuthorizationRequest {
    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }

    /// The fields the sign-in form carries so that its POST is the same request again.
    pub fn form_fields(&self) -> Vec<(&'static str, String)> {
        if let Some(handle) = &self.pushed {
            return vec![
                ("client_id", self.client_id.clone()),
                ("request_uri", handle.clone()),
            ];
        }
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
        if !self.acr_values.is_empty() {
            fields.push(("acr_values", self.acr_values.join(" ")));
        }
        if let Some(jkt) = &self.dpop_jkt {
            fields.push(("dpop_jkt", jkt.clone()));
        }
        fields
    }

    /// Whether the client asked for the second factor: `mfa` among `acr_values`, and `pwd`
    /// (a password alone) not. Any other value is unknown here and, as `acr_values` is a
    /// voluntary claim (Core 5.5.1.1), ignored.
    pub fn wants_second_factor(&self) -> bool {
        let asked = |acr: &str| self.acr_values.iter().any(|value| value == acr);
        asked(ACR_MFA) && !asked(ACR_PASSWORD)
    }
}

/// The authentication context class of a sign-in with the password alone.
pub const ACR_PASSWORD: &str = "pwd";
/// The authentication context class of a sign-in with the password and the one-time code.
pub const ACR_MFA: &str = "mfa";
