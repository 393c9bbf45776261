//! The settings that are one of a few values, read from their names.

use std::fmt;
use std::str::FromStr;

use rocket::http::SameSite;

/// The `response_type` this app asks for (with `response_mode=form_post`, or `query` for the
/// code flow with an IdP that never posts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    /// Implicit: the ID token comes back through the browser; no access token.
    IdToken,
    /// Authorization code (with PKCE): every token comes from the token endpoint.
    Code,
    /// Hybrid: an ID token through the browser (with `c_hash`) plus a code.
    CodeIdToken,
}

impl FromStr for ResponseType {
    type Err = &'static str;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text).ok_or("not a response type")
    }
}

impl fmt::Display for ResponseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `SESSION_SAMESITE`: the session cookie's `SameSite`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSiteSetting {
    /// `Lax`, the default: the cookie goes with top-level navigations from other sites.
    Lax,
    /// `Strict`: never from another site (a login then ends on a same-origin page).
    Strict,
}

impl FromStr for SameSiteSetting {
    type Err = &'static str;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "lax" => Ok(Self::Lax),
            "strict" => Ok(Self::Strict),
            _ => Err("neither lax nor strict"),
        }
    }
}

impl fmt::Display for SameSiteSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Lax => "lax",
            Self::Strict => "strict",
        })
    }
}

/// `RESPONSE_MODE`: how the IdP returns the authorization response to `/callback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// The browser posts it (OAuth 2.0 Form Post Response Mode): nothing in a URL.
    #[default]
    FormPost,
    /// In the redirect's query: for IdPs that never post (Amazon Cognito, many OAuth-first
    /// providers); the code flow only, since an ID token never travels in a URL.
    Query,
}

impl ResponseMode {
    /// The mode of a login: the configured one, else `form_post` when discovery lists it.
    /// Without the list, Discovery's default is query and fragment, yet many IdPs that omit
    /// it accept form_post: `query` for the code flow, `form_post` when an ID token comes
    /// through the browser.
    pub fn for_login(
        configured: Option<Self>,
        response_type: ResponseType,
        supported: Option<&[String]>,
    ) -> Self {
        if let Some(mode) = configured {
            return mode;
        }
        let code_only = response_type == ResponseType::Code;
        match supported {
            Some(modes) if modes.iter().any(|m| m == "form_post") => Self::FormPost,
            _ if code_only => Self::Query,
            _ => Self::FormPost,
        }
    }
}

impl FromStr for ResponseMode {
    type Err = &'static str;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "form_post" => Ok(Self::FormPost),
            "query" => Ok(Self::Query),
            _ => Err("neither form_post nor query"),
        }
    }
}

/// `STORE`: where a single instance keeps its records when `REDIS_URL` is unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// The embedded database file at `STORE_PATH`, kept across restarts (the default).
    File,
    /// Process memory: nothing survives a restart (tests, throw-away runs).
    Memory,
}

impl FromStr for StoreKind {
    type Err = &'static str;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "file" => Ok(Self::File),
            "memory" => Ok(Self::Memory),
            _ => Err("neither file nor memory"),
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::File => "file",
            Self::Memory => "memory",
        })
    }
}

impl From<SameSiteSetting> for SameSite {
    fn from(setting: SameSiteSetting) -> Self {
        match setting {
            SameSiteSetting::Lax => SameSite::Lax,
            SameSiteSetting::Strict => SameSite::Strict,
        }
    }
}

impl ResponseType {
    /// Parses `RESPONSE_TYPE`: the words in any order.
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

    /// The value of the `response_type` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdToken => "id_token",
            Self::Code => "code",
            Self::CodeIdToken => "code id_token",
        }
    }

    /// Whether a code is redeemed at the token endpoint (with PKCE and the client secret).
    pub fn uses_code(self) -> bool {
        self != Self::IdToken
    }

    /// Whether an ID token arrives with the authorization response itself.
    pub fn front_channel_id_token(self) -> bool {
        self != Self::Code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_types_parse_in_any_order() {
        assert_eq!(
            ResponseType::parse("id_token code"),
            Some(ResponseType::CodeIdToken)
        );
        assert_eq!(ResponseType::parse("code"), Some(ResponseType::Code));
        assert_eq!(ResponseType::parse("token"), None);
    }
}
