//! The settings that are one of a few values, read from their names.

use std::fmt;
use std::str::FromStr;

use rocket::http::SameSite;

/// The `response_type` this app asks for; always with `response_mode=form_post`.
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
