//! The FAPI 2.0 client settings: how the app authenticates to the IdP (`CLIENT_AUTH`, with
//! `CLIENT_PRIVATE_KEY` for `private_key_jwt`), pushed authorization requests (`PAR`) and
//! DPoP-bound tokens (`DPOP`).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use super::error::ConfigError;
use crate::jose::SigningKey;

/// How the app authenticates at the token, revocation and PAR endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// The client id and secret as form fields.
    ClientSecretPost,
    /// A JWT signed with the app's private key (RFC 7523, OpenID Connect Core §9).
    PrivateKeyJwt,
}

impl FromStr for ClientAuthMethod {
    type Err = &'static str;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "client_secret_basic" => Ok(Self::ClientSecretBasic),
            "client_secret_post" => Ok(Self::ClientSecretPost),
            "private_key_jwt" => Ok(Self::PrivateKeyJwt),
            _ => Err("not a client authentication method"),
        }
    }
}

impl ClientAuthMethod {
    /// The name discovery and registrations use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }
}

/// When the authorization request is pushed first (RFC 9126).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParMode {
    /// When discovery has a `pushed_authorization_request_endpoint`.
    Auto,
    /// Always; the IdP must have the endpoint.
    Always,
    /// Never, unless the IdP requires it (`require_pushed_authorization_requests`).
    Never,
}

impl FromStr for ParMode {
    type Err = &'static str;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            _ => Err("neither auto, always nor never"),
        }
    }
}

impl fmt::Display for ParMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Always => "always",
            Self::Never => "never",
        })
    }
}

/// The checked FAPI 2.0 client settings.
#[derive(Debug, Clone)]
pub struct Fapi {
    /// `CLIENT_AUTH`; `None`: chosen from discovery (`private_key_jwt` when a key is set).
    pub client_auth: Option<ClientAuthMethod>,
    /// `CLIENT_PRIVATE_KEY`, loaded: signs client assertions, published at
    /// `/.well-known/jwks.json`.
    pub client_key: Option<Arc<SigningKey>>,
    /// `PAR`.
    pub par: ParMode,
    /// `DPOP`: bind each session's tokens to a key of its own.
    pub dpop: bool,
}

impl Fapi {
    /// Whether the client authenticates without a secret.
    pub fn uses_private_key(&self) -> bool {
        match self.client_auth {
            Some(method) => method == ClientAuthMethod::PrivateKeyJwt,
            None => self.client_key.is_some(),
        }
    }
}

/// Loads the private key and checks that `private_key_jwt` has one.
pub(super) fn check(
    client_auth: Option<ClientAuthMethod>,
    client_private_key: Option<String>,
    par: ParMode,
    dpop: bool,
) -> Result<Fapi, ConfigError> {
    let client_key = match client_private_key {
        None => None,
        Some(path) => {
            let invalid = |detail: String| {
                ConfigError::Invalid {
                name: "CLIENT_PRIVATE_KEY (oidc.client_private_key)",
                detail,
                hint: "the path of a PEM file with an RSA key (2048 bits or more) or an EC P-256 key in PKCS#8",
            }
            };
            let pem = std::fs::read(&path).map_err(|e| invalid(format!("`{path}`: {e}")))?;
            let key = SigningKey::from_pem(&pem).map_err(|e| invalid(format!("`{path}`: {e}")))?;
            Some(Arc::new(key))
        }
    };
    if client_auth == Some(ClientAuthMethod::PrivateKeyJwt) && client_key.is_none() {
        return Err(ConfigError::Missing {
            name: "CLIENT_PRIVATE_KEY (oidc.client_private_key)",
            hint:
                "CLIENT_AUTH=private_key_jwt signs with a private key: set the path of its PEM file",
        });
    }
    Ok(Fapi {
        client_auth,
        client_key,
        par,
        dpop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/keys/rsa-a.pem");

    #[test]
    fn the_defaults_are_secrets_from_discovery_par_auto_and_no_dpop() {
        let fapi = check(None, None, ParMode::Auto, false).unwrap();
        assert_eq!(fapi.client_auth, None);
        assert!(fapi.client_key.is_none() && !fapi.uses_private_key());
        assert_eq!(fapi.par, ParMode::Auto);
        assert!(!fapi.dpop);
    }

    #[test]
    fn private_key_jwt_needs_a_readable_key() {
        let wants_key = check(
            Some(ClientAuthMethod::PrivateKeyJwt),
            None,
            ParMode::Auto,
            false,
        );
        assert!(matches!(wants_key, Err(ConfigError::Missing { .. })));
        let missing_file = check(
            None,
            Some("/nonexistent/key.pem".into()),
            ParMode::Auto,
            false,
        );
        let error = missing_file.unwrap_err().to_string();
        assert!(error.starts_with("CLIENT_PRIVATE_KEY"), "{error}");
        let with_key = check(None, Some(KEY.into()), ParMode::Auto, false);
        assert!(
            with_key.unwrap().uses_private_key(),
            "a key alone means private_key_jwt"
        );
    }

    #[test]
    fn the_methods_and_modes_read_their_names() {
        assert_eq!(
            "client_secret_post".parse(),
            Ok(ClientAuthMethod::ClientSecretPost)
        );
        assert!("tls_client_auth".parse::<ClientAuthMethod>().is_err());
        assert_eq!("Always".parse(), Ok(ParMode::Always));
        assert!("sometimes".parse::<ParMode>().is_err());
    }
}
