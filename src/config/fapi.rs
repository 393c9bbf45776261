//! The FAPI 2.0 client settings: how the app authenticates to the IdP (`CLIENT_AUTH`, with
//! `CLIENT_PRIVATE_KEY` for `private_key_jwt`), pushed authorization requests (`PAR`) and
//! DPoP-bound tokens (`DPOP`).

use std::sync::Arc;

use super::error::{non_empty, ConfigError};
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

/// The settings as written.
pub(super) struct RawFapi {
    pub client_auth: Option<String>,
    pub client_private_key: Option<String>,
    pub par: Option<String>,
    pub dpop: Option<String>,
}

pub(super) fn check(raw: RawFapi) -> Result<Fapi, ConfigError> {
    let client_auth = match non_empty(raw.client_auth).as_deref() {
        None => None,
        Some("client_secret_basic") => Some(ClientAuthMethod::ClientSecretBasic),
        Some("client_secret_post") => Some(ClientAuthMethod::ClientSecretPost),
        Some("private_key_jwt") => Some(ClientAuthMethod::PrivateKeyJwt),
        Some(other) => {
            return Err(ConfigError::Invalid {
                name: "CLIENT_AUTH (oidc.client_auth)",
                detail: format!("`{other}`"),
                hint: "use client_secret_basic, client_secret_post or private_key_jwt",
            })
        }
    };
    let client_key = match non_empty(raw.client_private_key) {
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
    let par = match non_empty(raw.par)
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("auto") => ParMode::Auto,
        Some("always") => ParMode::Always,
        Some("never") => ParMode::Never,
        Some(other) => {
            return Err(ConfigError::Invalid {
                name: "PAR (oidc.par)",
                detail: format!("`{other}`"),
                hint: "use auto (the default), always or never",
            })
        }
    };
    let dpop = match non_empty(raw.dpop)
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("false") | Some("0") | Some("no") | Some("off") => false,
        Some("true") | Some("1") | Some("yes") | Some("on") => true,
        Some(other) => {
            return Err(ConfigError::Invalid {
                name: "DPOP (oidc.dpop)",
                detail: format!("`{other}`"),
                hint: "use true or false",
            })
        }
    };
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

    fn raw() -> RawFapi {
        RawFapi {
            client_auth: None,
            client_private_key: None,
            par: None,
            dpop: None,
        }
    }

    const KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/keys/rsa-a.pem");

    #[test]
    fn the_defaults_are_secrets_from_discovery_par_auto_and_no_dpop() {
        let fapi = check(raw()).unwrap();
        assert_eq!(fapi.client_auth, None);
        assert!(fapi.client_key.is_none() && !fapi.uses_private_key());
        assert_eq!(fapi.par, ParMode::Auto);
        assert!(!fapi.dpop);
    }

    #[test]
    fn private_key_jwt_needs_a_readable_key() {
        let wants_key = RawFapi {
            client_auth: Some("private_key_jwt".into()),
            ..raw()
        };
        assert!(matches!(check(wants_key), Err(ConfigError::Missing { .. })));
        let missing_file = RawFapi {
            client_private_key: Some("/nonexistent/key.pem".into()),
            ..raw()
        };
        let error = check(missing_file).unwrap_err().to_string();
        assert!(error.starts_with("CLIENT_PRIVATE_KEY"), "{error}");
        let with_key = RawFapi {
            client_private_key: Some(KEY.into()),
            ..raw()
        };
        assert!(
            check(with_key).unwrap().uses_private_key(),
            "a key alone means private_key_jwt"
        );
    }

    #[test]
    fn unknown_values_name_their_setting() {
        for (raw, name) in [
            (
                RawFapi {
                    client_auth: Some("tls_client_auth".into()),
                    ..raw()
                },
                "CLIENT_AUTH",
            ),
            (
                RawFapi {
                    par: Some("sometimes".into()),
                    ..raw()
                },
                "PAR",
            ),
            (
                RawFapi {
                    dpop: Some("maybe".into()),
                    ..raw()
                },
                "DPOP",
            ),
        ] {
            let error = check(raw).unwrap_err().to_string();
            assert!(error.starts_with(name), "{error}");
        }
    }
}
