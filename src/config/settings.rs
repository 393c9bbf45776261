//! The settings as checked values, and the check that turns what the user wrote into them:
//! each mistake is reported with the setting's name and how to fix it.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use rocket::http::SameSite;
use secrecy::SecretString;
use url::Url;

use super::choices::{ResponseMode, ResponseType};
use super::error::ConfigError;
use super::fapi::{self, Fapi};
use super::fields::Fields;
use super::providers::{ProviderSettings, DEFAULT_PROVIDER};
use super::redis::RedisSettings;
use super::remote_apis::RemoteApi;
use super::secret::Keys;
use super::store::EmbeddedStore;
use crate::access::AccessRules;
use crate::crypto::{PreviousCookieKeys, Sealer};

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
    /// The ID token's claims `GET /session` shows besides `sub`, `acr` and `auth_time`.
    pub session_claims: Vec<String>,
    /// `SILENT_LOGIN`: the start page tries a silent login once per browser session.
    pub silent_login: bool,
    /// `USERINFO_AT_EVERY_LOGIN`: a code login always fetches UserInfo, not only when the ID
    /// token lacks a claim the app uses ([`Settings::claims_used`]).
    pub userinfo_at_every_login: bool,
    /// Who may log in (`ALLOWED_EMAIL_DOMAINS`, `ALLOWED_GROUPS`, `GROUPS_CLAIM`).
    pub access: AccessRules,
    /// `ALLOW_INSECURE_HTTP`: plain http to other hosts than this one is allowed.
    pub allow_insecure_http: bool,
    /// `TRUSTED_PROXIES`: the networks whose `X-Real-IP` names the client; from anywhere else
    /// the socket's peer is the client.
    pub trusted_proxies: Vec<IpNet>,
    /// `LOGIN_RATE_LIMIT`: logins a client address may start per minute (0: no limit).
    pub login_rate_limit: u32,
    /// The embedded store when `REDIS_URL` is unset (`STORE`, `STORE_PATH`).
    pub store: EmbeddedStore,
    /// `ENDED_SESSIONS_CAPACITY`: ended sessions each instance keeps in memory.
    pub ended_sessions_capacity: usize,
    /// `MAX_SESSIONS_PER_USER`: live sessions a user may have at once.
    pub max_sessions_per_user: usize,
    /// Every identity provider, the default one (the single-issuer settings, else the first
    /// of `[oidc.providers]`) first; the fields above describe that one.
    pub providers: Vec<ProviderSettings>,
    /// `RESPONSE_MODE`: `None` chooses from discovery at each login
    /// (`ResponseMode::for_login`).
    pub response_mode: Option<ResponseMode>,
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

    /// The claims the app reads from a session that asked for `scopes`: those `GET /session`
    /// shows, the `name` and `email` the scopes promise (Core 5.4) and the page greets by, and
    /// those the access rules and the APIs' `allowed_groups` check. A code login whose ID token
    /// carries them all does not ask UserInfo for more.
    pub fn claims_used<'a>(&'a self, scopes: &str) -> Vec<&'a str> {
        let mut claims: Vec<&str> = self.session_claims.iter().map(String::as_str).collect();
        let asked = |scope| words(scopes).any(|asked| asked == scope);
        let domains = !self.access.email_domains.is_empty();
        if asked("profile") {
            claims.push("name");
        }
        if asked("email") || domains {
            claims.push("email");
        }
        if domains {
            claims.push("email_verified");
        }
        let apis_check_groups = self
            .remote_apis
            .iter()
            .any(|api| api.allowed_groups.is_some());
        if !self.access.groups.is_empty() || apis_check_groups {
            claims.push(&self.access.groups_claim);
        }
        claims
    }

    /// Cookies carry `Secure` except on plain-http loopback development, where browsers
    /// would still accept them but tools like curl would not send them back.
    pub fn cookies_secure(&self) -> bool {
        !(self.base_url.scheme() == "http" && is_loopback_host(&self.base_url))
    }
}

/// The items of a list written with spaces or commas between them.
fn words(list: &str) -> impl Iterator<Item = &str> {
    list.split([' ', ',']).filter(|item| !item.is_empty())
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Plain http is for this machine only: tokens and sessions must not cross a network in the
/// clear. `ALLOW_INSECURE_HTTP=true` lifts this (for a test network; logged at start).
fn check_transport(url: &Url, name: &'static str, allow_insecure: bool) -> Result<(), ConfigError> {
    if url.scheme() == "http" && !is_loopback_host(url) && !allow_insecure {
        return Err(ConfigError::Invalid {
            name,
            detail: format!("`{url}` is plain http on a host other than this machine"),
            hint: "use https (plain http only for localhost / 127.0.0.1), or ALLOW_INSECURE_HTTP=true on a test network",
        });
    }
    Ok(())
}

/// Checks the rules a value's type cannot say (URL shapes, `openid` in the scopes, lifetimes of
/// at least a second) and those between settings; then `redis` (the shared store's settings)
/// and `keys` (from `SECRET` and `PREVIOUS_SECRETS`), read apart, are reported in that order.
pub(super) fn check(
    mut fields: Fields,
    redis: Result<Option<RedisSettings>, ConfigError>,
    keys: Result<Keys, ConfigError>,
) -> Result<Settings, ConfigError> {
    let stores = super::store::read(&fields)?;
    let allow_insecure = fields.allow_insecure_http;
    let extra = super::providers::parse(fields.providers.take(), &fields.scopes)?;
    let single = match fields.issuer.take() {
        Some(issuer) => Some(single_provider(issuer, &mut fields)?),
        None => None,
    };
    let providers: Vec<ProviderSettings> = single.into_iter().chain(extra).collect();
    let Some(default) = providers.first().cloned() else {
        return Err(ConfigError::Missing {
            name: "ISSUER_BASE_URL (oidc.issuer)",
            hint: "set it to your identity provider's issuer URL, e.g. https://example.eu.auth0.com/ (or configure [oidc.providers])",
        });
    };
    for provider in &providers {
        let url = Url::parse(&provider.issuer).map_err(|e| ConfigError::Invalid {
            name: "ISSUER_BASE_URL (oidc.issuer)",
            detail: e.to_string(),
            hint: "it must be an absolute http(s) URL such as https://login.example.com",
        })?;
        check_transport(&url, "ISSUER_BASE_URL (oidc.issuer)", allow_insecure)?;
    }
    let base_url = fields.base_url.clone();
    let plain_http_ok = base_url.scheme() == "http" && is_loopback_host(&base_url);
    if !(base_url.scheme() == "https" || plain_http_ok)
        || base_url.query().is_some()
        || base_url.fragment().is_some()
        || base_url.path() != "/"
    {
        return Err(ConfigError::Invalid {
            name: "BASE_URL (oidc.base_url)",
            detail: format!("`{base_url}`"),
            hint: "use https://host[:port] (plain http only for localhost / 127.0.0.1), without a path",
        });
    }
    let ProviderSettings {
        issuer,
        client_id,
        client_secret,
        fapi,
        response_type,
        response_mode,
        scopes,
        ..
    } = default;
    if let Some(url) = fields
        .upstream_api_url
        .as_ref()
        .filter(|u| !matches!(u.scheme(), "https" | "http"))
    {
        return Err(ConfigError::Invalid {
            name: "UPSTREAM_API_URL (oidc.upstream_api_url)",
            detail: format!("`{url}`"),
            hint: "it must be an absolute http(s) URL",
        });
    }
    if let Some(url) = &fields.upstream_api_url {
        check_transport(
            url,
            "UPSTREAM_API_URL (oidc.upstream_api_url)",
            allow_insecure,
        )?;
    }
    let idle = fields.session_idle_timeout_secs;
    let absolute = fields.session_absolute_lifetime_secs;
    if idle == 0 || absolute == 0 {
        return Err(ConfigError::Invalid {
            name: "SESSION_IDLE_TIMEOUT_SECS / SESSION_ABSOLUTE_LIFETIME_SECS",
            detail: "0".into(),
            hint: "session lifetimes must be at least one second",
        });
    }
    if !fields.allowed_groups.trim().is_empty() && fields.groups_claim.trim().is_empty() {
        return Err(ConfigError::Missing {
            name: "GROUPS_CLAIM (oidc.groups_claim)",
            hint: "ALLOWED_GROUPS reads the groups from a claim: name it (the default is `groups`)",
        });
    }
    let trusted_proxies = words(&fields.trusted_proxies)
        .map(|network| {
            network
                .parse::<IpNet>()
                .or_else(|_| network.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| ConfigError::Invalid {
                    name: "TRUSTED_PROXIES (oidc.trusted_proxies)",
                    detail: format!("`{network}`"),
                    hint: "networks in CIDR form (or single addresses) separated by spaces or commas, e.g. 10.0.0.0/8",
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let remote_apis = super::remote_apis::parse(
        fields.remote_apis,
        fields.remote_apis_env.as_deref(),
        response_type.uses_code(),
    )?;
    for api in &remote_apis {
        check_transport(&api.url, "REMOTE_APIS (oidc.remote_apis)", allow_insecure)?;
        if api.token.uses_client_token() && client_secret.is_none() && !fapi.uses_private_key() {
            return Err(ConfigError::Invalid {
                name: "REMOTE_APIS (oidc.remote_apis)",
                detail: format!("`{}` asks for the app's own token, and the app has no client credentials", api.name),
                hint: "set CLIENT_SECRET (or CLIENT_AUTH=private_key_jwt with CLIENT_PRIVATE_KEY), or another token policy",
            });
        }
    }
    let redis = redis?;
    let keys = keys?;
    let secs = Duration::from_secs;
    Ok(Settings {
        issuer,
        client_id,
        client_secret,
        base_url,
        scopes,
        response_type,
        upstream_api_url: fields.upstream_api_url,
        refresh_margin: secs(fields.refresh_margin_secs),
        clock_skew: secs(fields.clock_skew_secs),
        session_idle_timeout: secs(idle),
        session_absolute_lifetime: secs(absolute),
        http_connect_timeout: secs(fields.http_connect_timeout_secs.max(1)),
        http_timeout: secs(fields.http_timeout_secs.max(1)),
        previous_cookie_keys: keys.previous_cookie_keys,
        sealer: keys.sealer,
        metrics_address: fields.metrics_address,
        remote_apis,
        gateway_body_limit: fields.gateway_body_limit_bytes,
        gateway_timeout: secs(fields.gateway_timeout_secs.max(1)),
        session_same_site: fields.session_samesite.into(),
        redis,
        fapi,
        session_claims: words(&fields.session_claims).map(str::to_string).collect(),
        silent_login: fields.silent_login,
        userinfo_at_every_login: fields.userinfo_at_every_login,
        allow_insecure_http: allow_insecure,
        trusted_proxies,
        login_rate_limit: fields.login_rate_limit,
        store: stores.embedded,
        ended_sessions_capacity: stores.ended_sessions_capacity,
        max_sessions_per_user: stores.max_sessions_per_user,
        response_mode,
        providers,
        access: AccessRules {
            email_domains: words(&fields.allowed_email_domains)
                .map(|domain| domain.trim_start_matches('@').to_ascii_lowercase())
                .collect(),
            groups: words(&fields.allowed_groups).map(str::to_string).collect(),
            groups_claim: fields.groups_claim.trim().to_string(),
        },
    })
}

/// The provider the single-issuer settings describe (`default`), checked as before there
/// were several.
fn single_provider(issuer: String, fields: &mut Fields) -> Result<ProviderSettings, ConfigError> {
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
    let client_id = fields.client_id.take().ok_or(ConfigError::Missing {
        name: "CLIENT_ID (oidc.client_id)",
        hint: "set it to the client id your identity provider gave this application",
    })?;
    let scopes = fields
        .scopes
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if !scopes.split(' ').any(|s| s == "openid") {
        return Err(ConfigError::Invalid {
            name: "SCOPES (oidc.scopes)",
            detail: format!("`{scopes}`"),
            hint: "the scopes must include `openid`, e.g. \"openid profile email\"",
        });
    }
    let response_type = fields.response_type;
    if fields.response_mode == Some(ResponseMode::Query) && response_type != ResponseType::Code {
        return Err(ConfigError::Invalid {
            name: "RESPONSE_MODE (oidc.response_mode)",
            detail: format!("query with RESPONSE_TYPE={}", response_type.as_str()),
            hint: "query only with RESPONSE_TYPE=code: an ID token never travels in a URL",
        });
    }
    let client_secret = fields.client_secret.take().map(SecretString::from);
    let fapi = fapi::check(
        fields.client_auth,
        fields.client_private_key.take(),
        fields.par,
        fields.dpop,
    )?;
    if response_type.uses_code() && client_secret.is_none() && !fapi.uses_private_key() {
        return Err(ConfigError::Missing {
            name: "CLIENT_SECRET (oidc.client_secret)",
            hint: "response types with `code` authenticate at the token endpoint: set the client secret the IdP gave this application (or CLIENT_AUTH=private_key_jwt with CLIENT_PRIVATE_KEY)",
        });
    }
    Ok(ProviderSettings {
        name: DEFAULT_PROVIDER.to_string(),
        label: issuer_url
            .host_str()
            .unwrap_or(DEFAULT_PROVIDER)
            .to_string(),
        issuer,
        client_id,
        client_secret,
        fapi,
        response_type,
        response_mode: fields.response_mode,
        scopes,
        email_domains: Vec::new(),
    })
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
