//! The settings as checked values, and the check that turns what the user wrote into them:
//! each mistake is reported with the setting's name and how to fix it.

use std::net::SocketAddr;
use std::time::Duration;

use rocket::http::SameSite;
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use super::error::{non_empty, ConfigError};
use super::fapi::{self, Fapi, RawFapi};
use super::redis::RedisSettings;
use super::remote_apis::RemoteApi;
use super::secret::Keys;
use crate::crypto::{PreviousCookieKeys, Sealer};

/// The `[oidc]` table as written by the user, before it is checked.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub(super) struct RawSettings {
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    base_url: Option<String>,
    scopes: Option<String>,
    response_type: Option<String>,
    upstream_api_url: Option<String>,
    refresh_margin_secs: Option<u64>,
    clock_skew_secs: Option<u64>,
    session_idle_timeout_secs: Option<u64>,
    session_absolute_lifetime_secs: Option<u64>,
    http_connect_timeout_secs: Option<u64>,
    http_timeout_secs: Option<u64>,
    metrics_address: Option<String>,
    remote_apis: Option<std::collections::BTreeMap<String, super::remote_apis::RawRemoteApi>>,
    remote_apis_env: Option<String>,
    gateway_body_limit_bytes: Option<u64>,
    gateway_timeout_secs: Option<u64>,
    session_samesite: Option<String>,
    client_auth: Option<String>,
    client_private_key: Option<String>,
    par: Option<String>,
    dpop: Option<Flag>,
}

/// A yes/no setting as the environment or `Rocket.toml` give it: `true`, `"true"`, `1`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Flag {
    Bool(bool),
    Number(i64),
    Text(String),
}

impl Flag {
    fn into_text(self) -> String {
        match self {
            Flag::Bool(value) => value.to_string(),
            Flag::Number(value) => value.to_string(),
            Flag::Text(value) => value,
        }
    }
}

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

/// Checked settings: every field is usable as it is.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuer identifier, exactly as the IdP writes it in `iss` (no trailing-slash games).
    pub issuer: String,
    /// The client id registered at the IdP.
    pub client_id: String,
    /// The client secret, for the token and revocation endpoints (required with a code).
    pub client_secret: Option<SecretString>,
    /// Where this app is reachable by the browser, without a trailing slash.
    pub base_url: Url,
    /// The scopes asked for, space-separated; always include `openid`.
    pub scopes: String,
    /// Which flow logs in: implicit, code or hybrid.
    pub response_type: ResponseType,
    /// The API `/api/upstream` calls with the access token; the IdP's userinfo when unset.
    pub upstream_api_url: Option<Url>,
    /// Access tokens are refreshed this long before they expire.
    pub refresh_margin: Duration,
    /// Tolerance for clock differences with the IdP when checking `exp` and `iat`.
    pub clock_skew: Duration,
    /// A session ends after this long without a request.
    pub session_idle_timeout: Duration,
    /// A session ends this long after login, however active.
    pub session_absolute_lifetime: Duration,
    /// Timeout for connecting to the IdP or upstream API.
    pub http_connect_timeout: Duration,
    /// Timeout for a whole request to the IdP or upstream API.
    pub http_timeout: Duration,
    /// The private-cookie keys of `PREVIOUS_SECRETS`, which still decrypt after a rotation
    /// (the current key is Rocket's `secret_key`).
    pub previous_cookie_keys: PreviousCookieKeys,
    /// Seals data at rest (tokens in the store) under `SECRET`, opens it under `SECRET` or
    /// `PREVIOUS_SECRETS`; clones share it.
    pub sealer: Sealer,
    /// Where the Prometheus metrics are served (`METRICS_ADDRESS`); none: no metrics.
    pub metrics_address: Option<SocketAddr>,
    /// The APIs behind the BFF, reachable at `/api/<name>/…`.
    pub remote_apis: Vec<RemoteApi>,
    /// The largest request body forwarded to a remote API.
    pub gateway_body_limit: u64,
    /// How long a remote API may take to start answering (then 504).
    pub gateway_timeout: Duration,
    /// The session cookie's `SameSite`: `Lax` (default) or `Strict` (`SESSION_SAMESITE`).
    pub session_same_site: SameSite,
    /// The shared store, when `REDIS_URL` is set; `None` keeps the embedded memory store.
    pub redis: Option<RedisSettings>,
    /// Client authentication, PAR and DPoP (the FAPI 2.0 client features).
    pub fapi: Fapi,
}

impl Settings {
    /// `<base_url>/callback`, the redirect URI to register at the IdP.
    pub fn redirect_uri(&self) -> String {
        self.url_for("/callback")
    }

    /// `<base_url>/`, the post-logout redirect URI to register at the IdP.
    pub fn post_logout_redirect_uri(&self) -> String {
        self.url_for("/")
    }

    /// `<base_url>/backchannel-logout`, the back-channel logout URI to register at the IdP.
    pub fn backchannel_logout_uri(&self) -> String {
        self.url_for("/backchannel-logout")
    }

    fn url_for(&self, path: &str) -> String {
        format!("{}{}", self.base_url.as_str().trim_end_matches('/'), path)
    }

    /// Cookies carry `Secure` except on plain-http loopback development, where browsers
    /// would still accept them but tools like curl would not send them back.
    pub fn cookies_secure(&self) -> bool {
        !(self.base_url.scheme() == "http" && is_loopback_host(&self.base_url))
    }
}

fn is_loopback_host(url: &Url) -> bool {
    matches!(
        url.host_str(),
        Some("localhost") | Some("127.0.0.1") | Some("[::1]")
    )
}

/// Checks what the user wrote; then `redis` (the shared store's settings) and `keys` (from
/// `SECRET` and `PREVIOUS_SECRETS`), read apart, are reported in that order.
pub(super) fn check(
    raw: RawSettings,
    redis: Result<Option<RedisSettings>, ConfigError>,
    keys: Result<Keys, ConfigError>,
) -> Result<Settings, ConfigError> {
    let issuer = non_empty(raw.issuer).ok_or(ConfigError::Missing {
        name: "ISSUER_BASE_URL (oidc.issuer)",
        hint: "set it to your identity provider's issuer URL, e.g. https://example.eu.auth0.com/",
    })?;
    let issuer_url = Url::parse(&issuer).map_err(|e| ConfigError::Invalid {
        name: "ISSUER_BASE_URL (oidc.issuer)",
        detail: e.to_string(),
        hint: "it must be an absolute http(s) URL such as https://login.example.com",
    })?;
    if !matches!(issuer_url.scheme(), "https" | "http")
        || issuer_url.query().is_some()
        || issuer_url.fragment().is_some()
    {
        return Err(ConfigError::Invalid {
            name: "ISSUER_BASE_URL (oidc.issuer)",
            detail: format!("`{issuer}`"),
            hint: "it must be an http(s) URL without query or fragment",
        });
    }
    let client_id = non_empty(raw.client_id).ok_or(ConfigError::Missing {
        name: "CLIENT_ID (oidc.client_id)",
        hint: "set it to the client id your identity provider gave this application",
    })?;
    let base_url_text = non_empty(raw.base_url).unwrap_or_else(|| "http://localhost:3000".into());
    let base_url = Url::parse(&base_url_text).map_err(|e| ConfigError::Invalid {
        name: "BASE_URL (oidc.base_url)",
        detail: e.to_string(),
        hint: "it must be the absolute URL the browser uses for this app, e.g. https://app.example.com",
    })?;
    let plain_http_ok = base_url.scheme() == "http" && is_loopback_host(&base_url);
    if !(base_url.scheme() == "https" || plain_http_ok)
        || base_url.query().is_some()
        || base_url.fragment().is_some()
        || base_url.path() != "/"
    {
        return Err(ConfigError::Invalid {
            name: "BASE_URL (oidc.base_url)",
            detail: format!("`{base_url_text}`"),
            hint: "use https://host[:port] (plain http only for localhost / 127.0.0.1), without a path",
        });
    }
    let scopes = non_empty(raw.scopes).unwrap_or_else(|| "openid profile email".into());
    if !scopes.split_whitespace().any(|s| s == "openid") {
        return Err(ConfigError::Invalid {
            name: "SCOPES (oidc.scopes)",
            detail: format!("`{scopes}`"),
            hint: "the scopes must include `openid`, e.g. \"openid profile email\"",
        });
    }
    let response_type = match non_empty(raw.response_type) {
        None => ResponseType::IdToken,
        Some(text) => ResponseType::parse(&text).ok_or(ConfigError::Invalid {
            name: "RESPONSE_TYPE (oidc.response_type)",
            detail: format!("`{text}`"),
            hint: "use `id_token`, `code` or `code id_token`",
        })?,
    };
    let client_secret = non_empty(raw.client_secret).map(SecretString::from);
    let fapi = fapi::check(RawFapi {
        client_auth: raw.client_auth,
        client_private_key: raw.client_private_key,
        par: raw.par,
        dpop: raw.dpop.map(Flag::into_text),
    })?;
    if response_type.uses_code() && client_secret.is_none() && !fapi.uses_private_key() {
        return Err(ConfigError::Missing {
            name: "CLIENT_SECRET (oidc.client_secret)",
            hint: "response types with `code` authenticate at the token endpoint: set the client secret the IdP gave this application (or CLIENT_AUTH=private_key_jwt with CLIENT_PRIVATE_KEY)",
        });
    }
    let upstream_api_url = match non_empty(raw.upstream_api_url) {
        None => None,
        Some(text) => Some(
            Url::parse(&text)
                .ok()
                .filter(|u| matches!(u.scheme(), "https" | "http"))
                .ok_or(ConfigError::Invalid {
                    name: "UPSTREAM_API_URL (oidc.upstream_api_url)",
                    detail: format!("`{text}`"),
                    hint: "it must be an absolute http(s) URL",
                })?,
        ),
    };
    let idle = raw.session_idle_timeout_secs.unwrap_or(24 * 3600);
    let absolute = raw.session_absolute_lifetime_secs.unwrap_or(7 * 24 * 3600);
    if idle == 0 || absolute == 0 {
        return Err(ConfigError::Invalid {
            name: "SESSION_IDLE_TIMEOUT_SECS / SESSION_ABSOLUTE_LIFETIME_SECS",
            detail: "0".into(),
            hint: "session lifetimes must be at least one second",
        });
    }
    let metrics_address = non_empty(raw.metrics_address)
        .map(|text| {
            text.parse::<SocketAddr>()
                .map_err(|e| ConfigError::Invalid {
                    name: "METRICS_ADDRESS (oidc.metrics_address)",
                    detail: format!("`{text}`: {e}"),
                    hint: "an IP address and port, e.g. 127.0.0.1:9090 (never the public port)",
                })
        })
        .transpose()?;
    let session_same_site = match non_empty(raw.session_samesite)
        .map(|text| text.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("lax") => SameSite::Lax,
        Some("strict") => SameSite::Strict,
        Some(other) => {
            return Err(ConfigError::Invalid {
                name: "SESSION_SAMESITE (oidc.session_samesite)",
                detail: format!("`{other}`"),
                hint: "use `lax` (the default) or `strict`",
            })
        }
    };
    let remote_apis = super::remote_apis::parse(raw.remote_apis, raw.remote_apis_env.as_deref())?;
    let redis = redis?;
    let keys = keys?;
    let secs = Duration::from_secs;
    Ok(Settings {
        issuer,
        client_id,
        client_secret,
        base_url,
        scopes: scopes.split_whitespace().collect::<Vec<_>>().join(" "),
        response_type,
        upstream_api_url,
        refresh_margin: secs(raw.refresh_margin_secs.unwrap_or(60)),
        clock_skew: secs(raw.clock_skew_secs.unwrap_or(60)),
        session_idle_timeout: secs(idle),
        session_absolute_lifetime: secs(absolute),
        http_connect_timeout: secs(raw.http_connect_timeout_secs.unwrap_or(5).max(1)),
        http_timeout: secs(raw.http_timeout_secs.unwrap_or(10).max(1)),
        previous_cookie_keys: keys.previous_cookie_keys,
        sealer: keys.sealer,
        metrics_address,
        remote_apis,
        gateway_body_limit: raw.gateway_body_limit_bytes.unwrap_or(10 * 1024 * 1024),
        gateway_timeout: secs(raw.gateway_timeout_secs.unwrap_or(30).max(1)),
        session_same_site,
        redis,
        fapi,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(raw: RawSettings) -> Result<Settings, ConfigError> {
        let keys = Keys {
            previous_cookie_keys: PreviousCookieKeys::none(),
            sealer: Sealer::random(),
        };
        check(raw, Ok(None), Ok(keys))
    }

    fn raw(issuer: &str, base_url: &str) -> RawSettings {
        RawSettings {
            issuer: Some(issuer.into()),
            client_id: Some("app".into()),
            base_url: Some(base_url.into()),
            ..RawSettings::default()
        }
    }

    #[test]
    fn missing_issuer_names_the_setting() {
        let err = checked(RawSettings::default()).unwrap_err();
        assert!(err.to_string().starts_with("ISSUER_BASE_URL"), "{err}");
    }

    #[test]
    fn plain_http_base_url_is_only_allowed_on_loopback() {
        assert!(checked(raw("https://idp.example", "http://localhost:3000")).is_ok());
        assert!(checked(raw("https://idp.example", "http://127.0.0.1:3000")).is_ok());
        let err = checked(raw("https://idp.example", "http://app.example")).unwrap_err();
        assert!(err.to_string().starts_with("BASE_URL"), "{err}");
    }

    #[test]
    fn base_url_with_a_path_is_refused() {
        assert!(checked(raw("https://idp.example", "https://app.example/sub")).is_err());
    }

    #[test]
    fn scopes_without_openid_are_refused() {
        let mut r = raw("https://idp.example", "https://app.example");
        r.scopes = Some("profile email".into());
        assert!(checked(r).unwrap_err().to_string().starts_with("SCOPES"));
    }

    #[test]
    fn loopback_http_cookies_are_not_secure_but_https_ones_are() {
        let local = checked(raw("https://idp.example", "http://localhost:3000")).unwrap();
        assert!(!local.cookies_secure());
        let public = checked(raw("https://idp.example", "https://app.example")).unwrap();
        assert!(public.cookies_secure());
        assert_eq!(public.redirect_uri(), "https://app.example/callback");
    }

    #[test]
    fn code_response_types_need_a_client_secret() {
        let mut r = raw("https://idp.example", "https://app.example");
        r.response_type = Some("code".into());
        assert!(checked(r)
            .unwrap_err()
            .to_string()
            .starts_with("CLIENT_SECRET"));
        let mut r = raw("https://idp.example", "https://app.example");
        r.response_type = Some("code id_token".into());
        r.client_secret = Some("s".into());
        assert_eq!(checked(r).unwrap().response_type, ResponseType::CodeIdToken);
        let mut r = raw("https://idp.example", "https://app.example");
        r.response_type = Some("token".into());
        assert!(checked(r)
            .unwrap_err()
            .to_string()
            .starts_with("RESPONSE_TYPE"));
    }

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
