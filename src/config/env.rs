//! Where settings come from: Rocket's figment (`Rocket.toml`, `ROCKET_*`), `.env`, and the
//! environment names users of other OpenID Connect middleware already know.

use rocket::figment::providers::{Env, Serialized};
use rocket::figment::Figment;

/// Environment names that users of other OpenID Connect middleware already know, mapped onto
/// keys of the `[default.oidc]` table (or top-level Rocket keys).
const ENV_ALIASES: &[(&str, &str)] = &[
    ("ISSUER_BASE_URL", "oidc.issuer"),
    ("CLIENT_ID", "oidc.client_id"),
    ("CLIENT_SECRET", "oidc.client_secret"),
    ("BASE_URL", "oidc.base_url"),
    ("SCOPES", "oidc.scopes"),
    ("RESPONSE_TYPE", "oidc.response_type"),
    ("UPSTREAM_API_URL", "oidc.upstream_api_url"),
    ("REFRESH_MARGIN_SECS", "oidc.refresh_margin_secs"),
    ("CLOCK_SKEW_SECS", "oidc.clock_skew_secs"),
    (
        "SESSION_IDLE_TIMEOUT_SECS",
        "oidc.session_idle_timeout_secs",
    ),
    (
        "SESSION_ABSOLUTE_LIFETIME_SECS",
        "oidc.session_absolute_lifetime_secs",
    ),
    (
        "HTTP_CONNECT_TIMEOUT_SECS",
        "oidc.http_connect_timeout_secs",
    ),
    ("HTTP_TIMEOUT_SECS", "oidc.http_timeout_secs"),
    ("METRICS_ADDRESS", "oidc.metrics_address"),
    ("REMOTE_APIS", "oidc.remote_apis_env"),
    ("GATEWAY_BODY_LIMIT_BYTES", "oidc.gateway_body_limit_bytes"),
    ("GATEWAY_TIMEOUT_SECS", "oidc.gateway_timeout_secs"),
    ("SESSION_SAMESITE", "oidc.session_samesite"),
    ("CLIENT_AUTH", "oidc.client_auth"),
    ("CLIENT_PRIVATE_KEY", "oidc.client_private_key"),
    ("PAR", "oidc.par"),
    ("DPOP", "oidc.dpop"),
    ("SESSION_CLAIMS", "oidc.session_claims"),
    ("SILENT_LOGIN", "oidc.silent_login"),
    ("USERINFO_AT_EVERY_LOGIN", "oidc.userinfo_at_every_login"),
    ("ALLOWED_EMAIL_DOMAINS", "oidc.allowed_email_domains"),
    ("ALLOWED_GROUPS", "oidc.allowed_groups"),
    ("GROUPS_CLAIM", "oidc.groups_claim"),
    ("ALLOW_INSECURE_HTTP", "oidc.allow_insecure_http"),
    ("TRUSTED_PROXIES", "oidc.trusted_proxies"),
    ("LOGIN_RATE_LIMIT", "oidc.login_rate_limit"),
    ("RESPONSE_MODE", "oidc.response_mode"),
    ("STORE", "oidc.store"),
    ("STORE_PATH", "oidc.store_path"),
    ("ENDED_SESSIONS_CAPACITY", "oidc.ended_sessions_capacity"),
    ("MAX_SESSIONS_PER_USER", "oidc.max_sessions_per_user"),
    ("REDIS_CONNECT_TIMEOUT_MS", "oidc.redis_connect_timeout_ms"),
    ("REDIS_COMMAND_TIMEOUT_MS", "oidc.redis_command_timeout_ms"),
    ("REDIS_SYNC_GRACE_SECS", "oidc.redis_sync_grace_secs"),
    // The built-in development IdP's port (feature `dev-idp`, debug builds, no issuer set).
    ("DEV_IDP_PORT", "oidc.dev_idp_port"),
    ("DEV_IDP_SECOND_PORT", "oidc.dev_idp_second_port"),
    // How the app binary writes its log (`text` or `json`).
    ("LOG_FORMAT", "oidc.log_format"),
];

/// Rocket's figment with `.env`, the familiar variable names, `SECRET`, `PREVIOUS_SECRETS`,
/// `REDIS_URL` and `REDIS_KEY_PREFIX` merged in.
pub fn figment() -> Figment {
    // A missing .env file is normal; a malformed one is reported by the settings check.
    let _ = dotenvy::dotenv();
    with_env_aliases(rocket::Config::figment())
}

/// Adds the familiar environment names, `SECRET`, `PREVIOUS_SECRETS`, `REDIS_URL` and
/// `REDIS_KEY_PREFIX` on top of an existing figment. Those four are taken as text, whatever they
/// look like (`Env` would read a secret or prefix of digits as a number, and a list of URLs
/// in brackets as an array).
pub fn with_env_aliases(figment: Figment) -> Figment {
    let aliases = Env::raw().filter_map(|key| {
        ENV_ALIASES
            .iter()
            .find(|(name, _)| key == *name)
            .map(|(_, path)| (*path).into())
    });
    let mut figment = figment.merge(aliases);
    for (name, path) in [
        ("SECRET", "oidc.secret"),
        ("PREVIOUS_SECRETS", "oidc.previous_secrets"),
        ("REDIS_URL", "oidc.redis_url"),
        ("REDIS_KEY_PREFIX", "oidc.redis_key_prefix"),
    ] {
        if let Ok(text) = std::env::var(name) {
            figment = figment.merge(Serialized::default(path, text));
        }
    }
    figment
}
