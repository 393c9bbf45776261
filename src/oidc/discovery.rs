//! The parts of the OpenID Provider's discovery document (OpenID Connect Discovery 1.0 §3)
//! that this backend uses, parsed once into a typed value.

use serde::Deserialize;
use url::Url;

/// The discovery document (`/.well-known/openid-configuration`), the fields this app uses.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderMetadata {
    /// The issuer identifier, which `iss` must equal exactly.
    pub issuer: String,
    /// Where the browser is sent to log in.
    pub authorization_endpoint: Url,
    /// Where the signing keys are published.
    pub jwks_uri: Url,
    /// Where codes and refresh tokens are redeemed.
    #[serde(default)]
    pub token_endpoint: Option<Url>,
    /// Where extra claims about the user are read with the access token.
    #[serde(default)]
    pub userinfo_endpoint: Option<Url>,
    /// Where the browser is sent to log out at the IdP (RP-Initiated Logout).
    #[serde(default)]
    pub end_session_endpoint: Option<Url>,
    /// Where tokens are revoked (RFC 7009).
    #[serde(default)]
    pub revocation_endpoint: Option<Url>,
    /// When absent, Discovery §3 says RS256 is the only algorithm to expect.
    #[serde(default = "default_signing_algs")]
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// The response modes the IdP supports; `form_post` is the one used.
    #[serde(default)]
    pub response_modes_supported: Option<Vec<String>>,
    /// When absent, `client_secret_basic` (Discovery §3).
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// The algorithms accepted for `private_key_jwt` assertions.
    #[serde(default)]
    pub token_endpoint_auth_signing_alg_values_supported: Option<Vec<String>>,
    /// Where authorization requests are pushed (RFC 9126).
    #[serde(default)]
    pub pushed_authorization_request_endpoint: Option<Url>,
    /// Whether every authorization request must be pushed (RFC 9126 §5).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// The DPoP proof algorithms the IdP accepts (RFC 9449 §5.1); absent: no DPoP.
    #[serde(default)]
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
}

fn default_signing_algs() -> Vec<String> {
    vec!["RS256".to_string()]
}

impl ProviderMetadata {
    /// `client_secret_basic` unless the IdP supports only `client_secret_post`.
    pub fn prefers_client_secret_post(&self) -> bool {
        self.token_endpoint_auth_methods_supported
            .as_ref()
            .is_some_and(|methods| {
                methods.iter().any(|m| m == "client_secret_post")
                    && !methods.iter().any(|m| m == "client_secret_basic")
            })
    }

    /// Whether the IdP says it can POST the response back (absent list: assume it can).
    pub fn supports_form_post(&self) -> bool {
        self.response_modes_supported
            .as_ref()
            .is_none_or(|modes| modes.iter().any(|m| m == "form_post"))
    }
}
