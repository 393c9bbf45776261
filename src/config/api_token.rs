//! The token a remote API gets: whose ([`TokenPolicy`]), and what the API's own token is
//! asked for ([`Audience`]: `resource`, RFC 8707, the API's identifier, which becomes the
//! token's audience, and `scopes`, narrower than the session's). A token obtained for one
//! `Audience` is only ever sent to APIs with that same `Audience`.

use url::Url;

use super::error::ConfigError;

/// Which token, if any, the BFF attaches to a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPolicy {
    /// The session's access token; no session → 401 (scripts) or a redirect (navigations).
    User,
    /// The session's access token when there is a session; none otherwise.
    UserOrNone,
    /// Never a token (a public API).
    None,
    /// The app's own token (client credentials grant, RFC 6749 §4.4), never the user's.
    Client,
    /// The session's access token when there is a session; the app's own token otherwise.
    UserOrClient,
}

impl TokenPolicy {
    /// Whether the API may get the app's own token, which needs client credentials.
    pub fn uses_client_token(self) -> bool {
        matches!(self, Self::Client | Self::UserOrClient)
    }

    /// Whether the API may get a user's token.
    pub fn may_use_user_token(self) -> bool {
        matches!(self, Self::User | Self::UserOrNone | Self::UserOrClient)
    }
}

/// An API's `resource` and `scopes`, checked; at least one is set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Audience {
    /// The resource indicator, as written (the API compares its `aud` with it).
    pub resource: Option<String>,
    /// The scopes, separated by single spaces.
    pub scopes: Option<String>,
}

impl Audience {
    /// The name a token for this audience is kept under: a resource holds no whitespace, so
    /// the first line is the resource and the second the scopes.
    pub fn key(&self) -> String {
        format!(
            "{}\n{}",
            self.resource.as_deref().unwrap_or_default(),
            self.scopes.as_deref().unwrap_or_default()
        )
    }

    /// The token request's extra parameters: `resource` and `scope`.
    pub fn parameters(&self) -> Vec<(&'static str, &str)> {
        let resource = self.resource.as_deref().map(|r| ("resource", r));
        let scope = self.scopes.as_deref().map(|s| ("scope", s));
        resource.into_iter().chain(scope).collect()
    }
}

const NAME: &str = "REMOTE_APIS (oidc.remote_apis)";

/// The audience of API `name` from its `resource` and `scopes` keys, or the one line saying
/// which key is wrong. `uses_code`: the response type gives a refresh token, which a user
/// token for a resource is obtained with.
pub(super) fn checked(
    name: &str,
    token: TokenPolicy,
    resource: Option<&str>,
    scopes: Option<&str>,
    uses_code: bool,
) -> Result<Option<Audience>, ConfigError> {
    if resource.is_none() && scopes.is_none() {
        return Ok(None);
    }
    let key = if resource.is_some() {
        "resource"
    } else {
        "scopes"
    };
    if token == TokenPolicy::None {
        return Err(ConfigError::Invalid {
            name: NAME,
            detail: format!("{key} of `{name}`, whose token is `none`"),
            hint: "an API without a token needs no resource or scopes: remove them, or choose a token policy",
        });
    }
    let resource = resource.map(str::trim).map(|resource| {
        // RFC 8707 §2: an absolute URI without a fragment.
        Url::parse(resource)
            .ok()
            .filter(|url| url.fragment().is_none() && !resource.contains('#'))
            .filter(|_| !resource.chars().any(char::is_whitespace))
            .map(|_| resource.to_string())
            .ok_or(ConfigError::Invalid {
                name: NAME,
                detail: format!("resource `{resource}` of `{name}`"),
                hint: "an absolute URI with a scheme and no fragment (RFC 8707), e.g. https://orders.example.com",
            })
    });
    let resource = resource.transpose()?;
    let scopes = match scopes.map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")) {
        Some(scopes) if scopes.is_empty() => {
            return Err(ConfigError::Invalid {
                name: NAME,
                detail: format!("scopes of `{name}` is empty"),
                hint: "name at least one scope, separated by spaces, or leave scopes out",
            })
        }
        scopes => scopes,
    };
    if token.may_use_user_token() && !uses_code {
        return Err(ConfigError::Invalid {
            name: NAME,
            detail: format!("{key} of `{name}` with RESPONSE_TYPE=id_token, which gives no refresh token to obtain its token with"),
            hint: "set RESPONSE_TYPE=code, or token = \"client\" for the app's own token",
        });
    }
    Ok(Some(Audience { resource, scopes }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        token: TokenPolicy,
        resource: Option<&str>,
        scopes: Option<&str>,
    ) -> Result<Option<Audience>, String> {
        checked("orders", token, resource, scopes, true).map_err(|e| e.to_string())
    }

    #[test]
    fn resource_and_scopes_are_kept_as_written_and_scopes_normalised() {
        let audience = check(
            TokenPolicy::User,
            Some(" https://orders.example "),
            Some(" read   write "),
        )
        .unwrap()
        .unwrap();
        assert_eq!(audience.resource.as_deref(), Some("https://orders.example"));
        assert_eq!(audience.scopes.as_deref(), Some("read write"));
        assert_eq!(
            audience.parameters(),
            [
                ("resource", "https://orders.example"),
                ("scope", "read write")
            ]
        );
        assert_eq!(check(TokenPolicy::User, None, None).unwrap(), None);
        assert!(check(TokenPolicy::Client, Some("urn:example:orders"), None).is_ok());
    }

    #[test]
    fn a_resource_that_is_not_an_absolute_uri_without_fragment_is_refused() {
        for resource in [
            "orders",
            "/orders",
            "https://a.example/#x",
            "https://a.example/ x",
            "",
        ] {
            let error = check(TokenPolicy::User, Some(resource), None).unwrap_err();
            assert!(
                error.contains("resource `") && error.contains("of `orders`"),
                "{error}"
            );
        }
    }

    #[test]
    fn empty_scopes_are_refused() {
        let error = check(TokenPolicy::Client, None, Some("  ")).unwrap_err();
        assert!(error.contains("scopes of `orders` is empty"), "{error}");
    }

    #[test]
    fn resource_or_scopes_on_an_api_without_token_are_refused() {
        let error = check(TokenPolicy::None, Some("https://a.example"), None).unwrap_err();
        assert!(
            error.contains("resource of `orders`, whose token is `none`"),
            "{error}"
        );
        let error = check(TokenPolicy::None, None, Some("read")).unwrap_err();
        assert!(
            error.contains("scopes of `orders`, whose token is `none`"),
            "{error}"
        );
    }

    #[test]
    fn a_user_token_for_a_resource_needs_a_refresh_token() {
        let implicit = |token| checked("orders", token, Some("https://a.example"), None, false);
        let error = implicit(TokenPolicy::User).unwrap_err().to_string();
        assert!(
            error.contains("resource of `orders` with RESPONSE_TYPE=id_token"),
            "{error}"
        );
        assert!(implicit(TokenPolicy::UserOrNone).is_err());
        assert!(
            implicit(TokenPolicy::Client).is_ok(),
            "the app's own token needs none"
        );
    }
}
