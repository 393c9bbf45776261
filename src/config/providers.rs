//! Several identity providers in one instance: `[default.oidc.providers.<name>]` tables, each
//! with its own issuer, client, client authentication, response type and mode, scopes, PAR and
//! DPoP, and the email domains that route a user to it. The single-issuer settings
//! (`ISSUER_BASE_URL`, `CLIENT_ID`, …) stay the provider named `default`.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::Deserialize;

use super::choices::{ResponseMode, ResponseType};
use super::error::ConfigError;
use super::fapi::{self, ClientAuthMethod, Fapi, ParMode};

/// The name of the provider the single-issuer settings describe.
pub const DEFAULT_PROVIDER: &str = "default";

/// One identity provider and this app's client there.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// Its name in `/login?idp=<name>`, the session, logs and metrics.
    pub name: String,
    /// What the choice page shows (`label`, else the name).
    pub label: String,
    /// Its issuer identifier.
    pub issuer: String,
    /// This app's client id there.
    pub client_id: String,
    /// This app's client secret there, if any.
    pub client_secret: Option<SecretString>,
    /// Client authentication, PAR and DPoP there.
    pub fapi: Fapi,
    /// The response type asked for there.
    pub response_type: ResponseType,
    /// How it answers (`None`: from its discovery).
    pub response_mode: Option<ResponseMode>,
    /// The scopes asked for there (with `openid`).
    pub scopes: String,
    /// Users whose email is at one of these domains are sent there from the choice page.
    pub email_domains: Vec<String>,
}

impl ProviderSettings {
    /// Whether `email` belongs to one of its domains.
    pub fn routes_email(&self, email: &str) -> bool {
        let domain = email
            .rsplit_once('@')
            .map(|(_, d)| d.trim().to_ascii_lowercase());
        domain.is_some_and(|domain| self.email_domains.contains(&domain))
    }
}

/// One `[oidc.providers.<name>]` table, as written.
#[derive(Debug, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProvider {
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    client_auth: Option<String>,
    #[serde(default)]
    client_private_key: Option<String>,
    #[serde(default)]
    response_type: Option<String>,
    #[serde(default)]
    response_mode: Option<String>,
    #[serde(default)]
    scopes: Option<String>,
    #[serde(default)]
    par: Option<String>,
    #[serde(default)]
    dpop: Option<bool>,
    #[serde(default)]
    email_domains: Option<Vec<String>>,
    #[serde(default)]
    label: Option<String>,
}

const NAME: &str = "PROVIDERS (oidc.providers)";

/// A bad entry, named by provider and key.
fn invalid(
    provider: &str,
    key: &str,
    detail: impl Into<String>,
    hint: &'static str,
) -> ConfigError {
    ConfigError::Invalid {
        name: NAME,
        detail: format!("`{provider}`: {key} {}", detail.into()),
        hint,
    }
}

/// The configured providers, sorted by name. `scopes_default` is `SCOPES`; a provider's
/// redirect and base URL are the app's.
pub(super) fn parse(
    table: Option<BTreeMap<String, RawProvider>>,
    scopes_default: &str,
) -> Result<Vec<ProviderSettings>, ConfigError> {
    let mut providers = Vec::new();
    for (name, raw) in table.unwrap_or_default() {
        if name.is_empty()
            || name == DEFAULT_PROVIDER
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                &name,
                "name",
                "is not usable",
                "a provider's name is letters, digits, - and _ (and not `default`, the single-issuer settings' name)",
            ));
        }
        providers.push(one(&name, raw, scopes_default)?);
    }
    Ok(providers)
}

fn one(
    name: &str,
    raw: RawProvider,
    scopes_default: &str,
) -> Result<ProviderSettings, ConfigError> {
    let text = |value: Option<String>| {
        value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let issuer = text(raw.issuer).ok_or_else(|| {
        invalid(
            name,
            "issuer",
            "is missing",
            "each provider needs its issuer URL",
        )
    })?;
    let issuer_url = url::Url::parse(&issuer).map_err(|e| {
        invalid(
            name,
            "issuer",
            format!("`{issuer}` ({e})"),
            "an absolute https URL",
        )
    })?;
    if !matches!(issuer_url.scheme(), "https" | "http") {
        return Err(invalid(
            name,
            "issuer",
            format!("`{issuer}`"),
            "an absolute https URL",
        ));
    }
    let client_id = text(raw.client_id).ok_or_else(|| {
        invalid(
            name,
            "client_id",
            "is missing",
            "the client id this provider gave the app",
        )
    })?;
    let response_type = match text(raw.response_type) {
        None => ResponseType::IdToken,
        Some(value) => ResponseType::parse(&value).ok_or_else(|| {
            invalid(
                name,
                "response_type",
                format!("`{value}`"),
                "id_token, code or `code id_token`",
            )
        })?,
    };
    let response_mode = match text(raw.response_mode) {
        None => None,
        Some(value) => Some(value.parse::<ResponseMode>().map_err(|_| {
            invalid(
                name,
                "response_mode",
                format!("`{value}`"),
                "form_post or query",
            )
        })?),
    };
    if response_mode == Some(ResponseMode::Query) && response_type != ResponseType::Code {
        return Err(invalid(
            name,
            "response_mode",
            "query with an ID token in the response",
            "query only with response_type = \"code\": an ID token never travels in a URL",
        ));
    }
    let client_auth = match text(raw.client_auth) {
        None => None,
        Some(value) => Some(value.parse::<ClientAuthMethod>().map_err(|_| {
            invalid(
                name,
                "client_auth",
                format!("`{value}`"),
                "client_secret_basic, client_secret_post or private_key_jwt",
            )
        })?),
    };
    let par = match text(raw.par) {
        None => ParMode::Auto,
        Some(value) => value
            .parse::<ParMode>()
            .map_err(|_| invalid(name, "par", format!("`{value}`"), "auto, always or never"))?,
    };
    let fapi = fapi::check(
        client_auth,
        text(raw.client_private_key),
        par,
        raw.dpop.unwrap_or(false),
    )
    .map_err(|error| {
        invalid(
            name,
            "client authentication",
            format!("({error})"),
            "see docs/fapi.md",
        )
    })?;
    let client_secret = text(raw.client_secret).map(SecretString::from);
    if response_type.uses_code() && client_secret.is_none() && !fapi.uses_private_key() {
        return Err(invalid(
            name,
            "client_secret",
            "is missing",
            "a response type with a code authenticates at the token endpoint: a client_secret, or client_auth = \"private_key_jwt\" with client_private_key",
        ));
    }
    let scopes = text(raw.scopes).unwrap_or_else(|| scopes_default.to_string());
    let scopes = scopes.split_whitespace().collect::<Vec<_>>().join(" ");
    if !scopes.split(' ').any(|s| s == "openid") {
        return Err(invalid(
            name,
            "scopes",
            format!("`{scopes}`"),
            "the scopes must include openid",
        ));
    }
    let email_domains = raw
        .email_domains
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    Ok(ProviderSettings {
        name: name.to_string(),
        label: text(raw.label).unwrap_or_else(|| name.to_string()),
        issuer,
        client_id,
        client_secret,
        fapi,
        response_type,
        response_mode,
        scopes,
        email_domains,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawProvider {
        let mut raw = RawProvider {
            issuer: Some("https://idp.example".into()),
            client_id: Some("app".into()),
            ..RawProvider::default()
        };
        for (key, value) in pairs {
            let value = Some(value.to_string());
            match *key {
                "response_type" => raw.response_type = value,
                "response_mode" => raw.response_mode = value,
                "client_secret" => raw.client_secret = value,
                "scopes" => raw.scopes = value,
                _ => unreachable!("{key}"),
            }
        }
        raw
    }

    fn parsed(name: &str, raw: RawProvider) -> Result<Vec<ProviderSettings>, ConfigError> {
        parse(
            Some(BTreeMap::from([(name.to_string(), raw)])),
            "openid profile",
        )
    }

    #[test]
    fn a_provider_takes_the_app_scopes_and_routes_its_email_domains_in_any_case() {
        let mut entry = raw(&[]);
        entry.email_domains = Some(vec![" @Acme.Example ".into()]);
        let provider = parsed("acme", entry).unwrap().remove(0);
        assert_eq!(provider.scopes, "openid profile");
        assert_eq!(provider.label, "acme");
        assert!(provider.routes_email("carol@ACME.example"));
        assert!(!provider.routes_email("carol@acme.example.evil"));
        assert!(!provider.routes_email("acme.example"));
    }

    #[test]
    fn names_and_values_that_cannot_work_are_refused_naming_the_provider_and_key() {
        for (name, entry, key) in [
            ("default", raw(&[]), "name"),
            ("a b", raw(&[]), "name"),
            ("x", raw(&[("response_type", "token")]), "response_type"),
            ("x", raw(&[("response_type", "code")]), "client_secret"),
            ("x", raw(&[("response_mode", "query")]), "response_mode"),
            ("x", raw(&[("scopes", "profile")]), "scopes"),
        ] {
            let error = parsed(name, entry).unwrap_err().to_string();
            assert!(error.contains(&format!("`{name}`")), "{error}");
            assert!(error.contains(key), "{key}: {error}");
        }
    }
}
