//! The names each `[oidc]` setting goes by (its environment variable and `Rocket.toml` key)
//! and how to write it: what an error message about a malformed value says.

/// What each setting read here is called and how to write it, for error messages.
pub(super) const WRITTEN_AS: &[(&str, &str, &str)] = &[
    (
        "issuer",
        "ISSUER_BASE_URL (oidc.issuer)",
        "your identity provider's issuer URL, e.g. https://example.eu.auth0.com/",
    ),
    (
        "client_id",
        "CLIENT_ID (oidc.client_id)",
        "the client id your identity provider gave this application",
    ),
    (
        "client_secret",
        "CLIENT_SECRET (oidc.client_secret)",
        "the client secret your identity provider gave this application",
    ),
    (
        "base_url",
        "BASE_URL (oidc.base_url)",
        "it must be the absolute URL the browser uses for this app, e.g. https://app.example.com",
    ),
    (
        "scopes",
        "SCOPES (oidc.scopes)",
        "the scopes separated by spaces, including `openid`",
    ),
    (
        "response_type",
        "RESPONSE_TYPE (oidc.response_type)",
        "use `id_token`, `code` or `code id_token`",
    ),
    (
        "upstream_api_url",
        "UPSTREAM_API_URL (oidc.upstream_api_url)",
        "it must be an absolute http(s) URL",
    ),
    (
        "refresh_margin_secs",
        "REFRESH_MARGIN_SECS (oidc.refresh_margin_secs)",
        "a whole number of seconds",
    ),
    (
        "clock_skew_secs",
        "CLOCK_SKEW_SECS (oidc.clock_skew_secs)",
        "a whole number of seconds",
    ),
    (
        "session_idle_timeout_secs",
        "SESSION_IDLE_TIMEOUT_SECS (oidc.session_idle_timeout_secs)",
        "a whole number of seconds, at least 1",
    ),
    (
        "session_absolute_lifetime_secs",
        "SESSION_ABSOLUTE_LIFETIME_SECS (oidc.session_absolute_lifetime_secs)",
        "a whole number of seconds, at least 1",
    ),
    (
        "http_connect_timeout_secs",
        "HTTP_CONNECT_TIMEOUT_SECS (oidc.http_connect_timeout_secs)",
        "a whole number of seconds",
    ),
    (
        "http_timeout_secs",
        "HTTP_TIMEOUT_SECS (oidc.http_timeout_secs)",
        "a whole number of seconds",
    ),
    (
        "metrics_address",
        "METRICS_ADDRESS (oidc.metrics_address)",
        "an IP address and port, e.g. 127.0.0.1:9090 (never the public port)",
    ),
    (
        "remote_apis",
        "REMOTE_APIS (oidc.remote_apis)",
        "a table of name = { url, token, allowed_groups, resource, scopes }",
    ),
    (
        "remote_apis_env",
        "REMOTE_APIS (oidc.remote_apis)",
        "write name=url pairs separated by commas",
    ),
    (
        "gateway_body_limit_bytes",
        "GATEWAY_BODY_LIMIT_BYTES (oidc.gateway_body_limit_bytes)",
        "a whole number of bytes",
    ),
    (
        "gateway_timeout_secs",
        "GATEWAY_TIMEOUT_SECS (oidc.gateway_timeout_secs)",
        "a whole number of seconds",
    ),
    (
        "session_samesite",
        "SESSION_SAMESITE (oidc.session_samesite)",
        "use `lax` (the default) or `strict`",
    ),
    (
        "client_auth",
        "CLIENT_AUTH (oidc.client_auth)",
        "use client_secret_basic, client_secret_post or private_key_jwt",
    ),
    (
        "client_private_key",
        "CLIENT_PRIVATE_KEY (oidc.client_private_key)",
        "the path of a PEM file with the private key",
    ),
    (
        "par",
        "PAR (oidc.par)",
        "use auto (the default), always or never",
    ),
    ("dpop", "DPOP (oidc.dpop)", "use true or false"),
    (
        "session_claims",
        "SESSION_CLAIMS (oidc.session_claims)",
        "claim names separated by spaces or commas",
    ),
    (
        "silent_login",
        "SILENT_LOGIN (oidc.silent_login)",
        "use true or false",
    ),
    (
        "userinfo_at_every_login",
        "USERINFO_AT_EVERY_LOGIN (oidc.userinfo_at_every_login)",
        "use true or false",
    ),
    (
        "allowed_email_domains",
        "ALLOWED_EMAIL_DOMAINS (oidc.allowed_email_domains)",
        "domains separated by spaces or commas, e.g. example.com",
    ),
    (
        "allowed_groups",
        "ALLOWED_GROUPS (oidc.allowed_groups)",
        "group names separated by spaces or commas",
    ),
    (
        "groups_claim",
        "GROUPS_CLAIM (oidc.groups_claim)",
        "the name of the claim that holds the groups",
    ),
    (
        "allow_insecure_http",
        "ALLOW_INSECURE_HTTP (oidc.allow_insecure_http)",
        "use true or false",
    ),
    (
        "trusted_proxies",
        "TRUSTED_PROXIES (oidc.trusted_proxies)",
        "networks in CIDR form separated by spaces or commas, e.g. 10.0.0.0/8",
    ),
    (
        "login_rate_limit",
        "LOGIN_RATE_LIMIT (oidc.login_rate_limit)",
        "logins per minute per client address, a whole number (0: no limit)",
    ),
    ("store", "STORE (oidc.store)", "use file or memory"),
    (
        "response_mode",
        "RESPONSE_MODE (oidc.response_mode)",
        "use form_post or query (query only with RESPONSE_TYPE=code)",
    ),
    (
        "store_path",
        "STORE_PATH (oidc.store_path)",
        "the path of the store file, e.g. /var/lib/oidc-bff/store.redb",
    ),
    (
        "ended_sessions_capacity",
        "ENDED_SESSIONS_CAPACITY (oidc.ended_sessions_capacity)",
        "how many ended sessions each instance keeps, a whole number of at least 16",
    ),
    (
        "max_sessions_per_user",
        "MAX_SESSIONS_PER_USER (oidc.max_sessions_per_user)",
        "how many live sessions a user may have, a whole number of at least 1",
    ),
];
