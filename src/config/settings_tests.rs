use super::*;
use crate::config::fields;
use rocket::figment::providers::Serialized;
use rocket::figment::Figment;

/// The settings `oidc.<key> = value` give, read and checked as at start-up.
fn checked(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let figment = pairs.iter().fold(Figment::new(), |figment, (key, value)| {
        figment.merge(Serialized::default(&format!("oidc.{key}"), value))
    });
    let fields = fields::read(&figment)?;
    let keys = Keys {
        previous_cookie_keys: PreviousCookieKeys::none(),
        sealer: Sealer::random(),
    };
    check(fields, Ok(None), Ok(keys))
}

fn with<'a>(base_url: &'a str, more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut pairs = vec![
        ("issuer", "https://idp.example"),
        ("client_id", "app"),
        ("base_url", base_url),
    ];
    pairs.extend_from_slice(more);
    pairs
}

#[test]
fn missing_issuer_names_the_setting() {
    let err = checked(&[]).unwrap_err();
    assert!(err.to_string().starts_with("ISSUER_BASE_URL"), "{err}");
}

#[test]
fn plain_http_base_url_is_only_allowed_on_loopback() {
    assert!(checked(&with("http://localhost:3000", &[])).is_ok());
    assert!(checked(&with("http://127.0.0.1:3000", &[])).is_ok());
    let err = checked(&with("http://app.example", &[])).unwrap_err();
    assert!(err.to_string().starts_with("BASE_URL"), "{err}");
    let err = checked(&with("not a url", &[])).unwrap_err();
    assert!(err.to_string().starts_with("BASE_URL"), "{err}");
}

#[test]
fn base_url_with_a_path_is_refused() {
    let err = checked(&with("https://app.example/sub", &[])).unwrap_err();
    assert!(err.to_string().starts_with("BASE_URL"), "{err}");
}

#[test]
fn scopes_without_openid_are_refused() {
    let pairs = with("https://app.example", &[("scopes", "profile email")]);
    assert!(checked(&pairs)
        .unwrap_err()
        .to_string()
        .starts_with("SCOPES"));
    let pairs = with("https://app.example", &[("scopes", " openid  email ")]);
    assert_eq!(checked(&pairs).unwrap().scopes, "openid email");
}

#[test]
fn loopback_http_cookies_are_not_secure_but_https_ones_are() {
    let local = checked(&with("http://localhost:3000", &[])).unwrap();
    assert!(!local.cookies_secure());
    let public = checked(&with("https://app.example", &[])).unwrap();
    assert!(public.cookies_secure());
    assert_eq!(public.redirect_uri(), "https://app.example/callback");
}

#[test]
fn code_response_types_need_a_client_secret() {
    let pairs = with("https://app.example", &[("response_type", "code")]);
    let err = checked(&pairs).unwrap_err();
    assert!(err.to_string().starts_with("CLIENT_SECRET"), "{err}");
    let pairs = with(
        "https://app.example",
        &[("response_type", "code id_token"), ("client_secret", "s")],
    );
    assert_eq!(
        checked(&pairs).unwrap().response_type,
        ResponseType::CodeIdToken
    );
    let pairs = with("https://app.example", &[("response_type", "token")]);
    let err = checked(&pairs).unwrap_err();
    assert!(err.to_string().starts_with("RESPONSE_TYPE"), "{err}");
}

#[test]
fn the_defaults_apply_to_what_is_not_set() {
    let settings = checked(&with("http://localhost:3000", &[])).unwrap();
    assert_eq!(settings.scopes, "openid profile email");
    assert_eq!(settings.response_type, ResponseType::IdToken);
    assert_eq!(settings.clock_skew, Duration::from_secs(60));
    assert_eq!(settings.session_idle_timeout, Duration::from_secs(86400));
    assert_eq!(settings.session_same_site, SameSite::Lax);
    assert_eq!(settings.gateway_body_limit, 10 * 1024 * 1024);
    assert!(!settings.fapi.dpop);
}

#[test]
fn plain_http_to_another_host_is_refused_unless_allowed() {
    let with_issuer = |issuer: &'static str, more: &[(&'static str, &'static str)]| {
        let mut pairs = with("http://localhost:3000", more);
        pairs[0] = ("issuer", issuer);
        pairs
    };
    for issuer in [
        "http://127.0.0.1:4000",
        "http://localhost:4000",
        "http://127.1.2.3",
    ] {
        assert!(checked(&with_issuer(issuer, &[])).is_ok(), "{issuer}");
    }
    let err = checked(&with_issuer("http://idp.example", &[])).unwrap_err();
    assert!(err.to_string().starts_with("ISSUER_BASE_URL"), "{err}");
    assert!(err.to_string().contains("plain http"), "{err}");
    let remote = [("remote_apis_env", "orders=http://api.example.com/v1")];
    let err = checked(&with("http://localhost:3000", &remote)).unwrap_err();
    assert!(err.to_string().starts_with("REMOTE_APIS"), "{err}");
    let upstream = [("upstream_api_url", "http://api.example.com/me")];
    let err = checked(&with("http://localhost:3000", &upstream)).unwrap_err();
    assert!(err.to_string().starts_with("UPSTREAM_API_URL"), "{err}");
    let allowed = [
        ("allow_insecure_http", "true"),
        ("remote_apis_env", "orders=http://api.example.com/v1"),
    ];
    let settings = checked(&with_issuer("http://idp.example", &allowed)).unwrap();
    assert!(settings.allow_insecure_http);
}

#[test]
fn the_claims_used_follow_the_scopes_session_claims_and_access_rules() {
    let plain = checked(&with(
        "https://app.example",
        &[("session_claims", "picture")],
    ))
    .unwrap();
    assert_eq!(
        plain.claims_used("openid profile email"),
        ["picture", "name", "email"]
    );
    assert_eq!(plain.claims_used("openid"), ["picture"]);
    let ruled = checked(&with(
        "https://app.example",
        &[
            ("session_claims", ""),
            ("allowed_email_domains", "example.com"),
            ("allowed_groups", "staff"),
            ("groups_claim", "roles"),
        ],
    ))
    .unwrap();
    assert_eq!(
        ruled.claims_used("openid"),
        ["email", "email_verified", "roles"]
    );
}
