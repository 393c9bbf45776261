//! The `[oidc]` table as serde reads it: each value typed (URLs, addresses, enums, seconds),
//! and every default written here once. `Rocket.toml` and the README's configuration table
//! show the same defaults; a test compares them with [`Fields::default`].
//!
//! A value of the wrong form is reported with the setting's names (the environment variable
//! and the `Rocket.toml` key) and how to write it: [`invalid`].

use std::collections::BTreeMap;
use std::fmt::Display;
use std::net::SocketAddr;
use std::str::FromStr;

use rocket::figment;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use url::Url;

use super::choices::{ResponseMode, ResponseType, SameSiteSetting, StoreKind};
use super::error::ConfigError;
use super::fapi::{ClientAuthMethod, ParMode};
use super::providers::RawProvider;
use super::remote_apis::RawRemoteApi;
use super::written_as::WRITTEN_AS;

/// `[oidc]` as written, typed; a missing key takes its default from [`Fields::default`].
#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub(super) struct Fields {
    #[serde(deserialize_with = "text", skip_serializing)]
    pub issuer: Option<String>,
    #[serde(deserialize_with = "text", skip_serializing)]
    pub client_id: Option<String>,
    #[serde(deserialize_with = "text", skip_serializing)]
    pub client_secret: Option<String>,
    #[serde(deserialize_with = "parsed", serialize_with = "as_text")]
    pub base_url: Url,
    pub scopes: String,
    #[serde(deserialize_with = "parsed", serialize_with = "as_text")]
    pub response_type: ResponseType,
    #[serde(deserialize_with = "optional", skip_serializing)]
    pub upstream_api_url: Option<Url>,
    pub refresh_margin_secs: u64,
    pub clock_skew_secs: u64,
    pub session_idle_timeout_secs: u64,
    pub session_absolute_lifetime_secs: u64,
    pub http_connect_timeout_secs: u64,
    pub http_timeout_secs: u64,
    #[serde(deserialize_with = "optional", skip_serializing)]
    pub metrics_address: Option<SocketAddr>,
    #[serde(skip_serializing)]
    pub remote_apis: Option<BTreeMap<String, RawRemoteApi>>,
    #[serde(deserialize_with = "text", skip_serializing)]
    pub remote_apis_env: Option<String>,
    pub gateway_body_limit_bytes: u64,
    pub gateway_timeout_secs: u64,
    #[serde(deserialize_with = "parsed", serialize_with = "as_text")]
    pub session_samesite: SameSiteSetting,
    #[serde(deserialize_with = "optional", skip_serializing)]
    pub client_auth: Option<ClientAuthMethod>,
    #[serde(deserialize_with = "text", skip_serializing)]
    pub client_private_key: Option<String>,
    #[serde(deserialize_with = "parsed", serialize_with = "as_text")]
    pub par: ParMode,
    #[serde(deserialize_with = "switch")]
    pub dpop: bool,
    pub session_claims: String,
    #[serde(deserialize_with = "switch")]
    pub silent_login: bool,
    #[serde(deserialize_with = "switch")]
    pub userinfo_at_every_login: bool,
    pub allowed_email_domains: String,
    pub allowed_groups: String,
    pub groups_claim: String,
    #[serde(deserialize_with = "switch")]
    pub allow_insecure_http: bool,
    pub trusted_proxies: String,
    pub login_rate_limit: u32,
    #[serde(deserialize_with = "parsed", serialize_with = "as_text")]
    pub store: StoreKind,
    pub store_path: String,
    pub ended_sessions_capacity: u64,
    pub max_sessions_per_user: u64,
    #[serde(deserialize_with = "optional", skip_serializing)]
    pub response_mode: Option<ResponseMode>,
    #[serde(skip_serializing)]
    pub providers: Option<BTreeMap<String, RawProvider>>,
}

impl Default for Fields {
    /// The defaults, in one place.
    fn default() -> Self {
        Self {
            issuer: None,
            client_id: None,
            client_secret: None,
            base_url: Url::parse("http://localhost:3000")
                .unwrap_or_else(|_| unreachable!("a literal URL parses")),
            scopes: "openid profile email".into(),
            response_type: ResponseType::IdToken,
            upstream_api_url: None,
            refresh_margin_secs: 60,
            clock_skew_secs: 60,
            session_idle_timeout_secs: 24 * 3600,
            session_absolute_lifetime_secs: 7 * 24 * 3600,
            http_connect_timeout_secs: 5,
            http_timeout_secs: 10,
            metrics_address: None,
            remote_apis: None,
            remote_apis_env: None,
            gateway_body_limit_bytes: 10 * 1024 * 1024,
            gateway_timeout_secs: 30,
            session_samesite: SameSiteSetting::Lax,
            client_auth: None,
            client_private_key: None,
            par: ParMode::Auto,
            dpop: false,
            session_claims: "name email picture".into(),
            silent_login: false,
            userinfo_at_every_login: false,
            allowed_email_domains: String::new(),
            allowed_groups: String::new(),
            groups_claim: "groups".into(),
            allow_insecure_http: false,
            trusted_proxies: String::new(),
            login_rate_limit: 120,
            store: StoreKind::File,
            store_path: "oidc-bff.redb".into(),
            ended_sessions_capacity: 1_000_000,
            max_sessions_per_user: 50,
            response_mode: None,
            providers: None,
        }
    }
}

/// The `[oidc]` table of `figment`, or the defaults when there is none.
pub(super) fn read(figment: &figment::Figment) -> Result<Fields, ConfigError> {
    match figment.extract_inner::<Fields>("oidc") {
        Ok(fields) => Ok(fields),
        Err(error) if error.missing() => Ok(Fields::default()),
        Err(error) => Err(invalid(error)),
    }
}

/// A value of the wrong form, named as the user wrote it.
fn invalid(error: figment::Error) -> ConfigError {
    let detail = error.kind.to_string();
    let setting = error
        .path
        .iter()
        .find_map(|key| WRITTEN_AS.iter().find(|(field, _, _)| field == key));
    match setting {
        Some((_, name, hint)) => ConfigError::Invalid { name, detail, hint },
        None => ConfigError::Invalid {
            name: "[oidc] in Rocket.toml",
            detail: error.to_string(),
            hint: "see the configuration table in README.md",
        },
    }
}

/// A setting given as text, a number or a flag, as the environment and `Rocket.toml` give
/// them; trimmed.
#[derive(Deserialize)]
#[serde(untagged)]
enum Written {
    Text(String),
    Integer(i64),
    Flag(bool),
}

impl Written {
    fn into_text(self) -> String {
        match self {
            Written::Text(text) => text.trim().to_string(),
            Written::Integer(value) => value.to_string(),
            Written::Flag(value) => value.to_string(),
        }
    }
}

/// Text; blank is unset.
fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let written = Option::<Written>::deserialize(deserializer)?;
    Ok(written.map(Written::into_text).filter(|t| !t.is_empty()))
}

/// A value read from its text form; blank is unset.
fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    match text(deserializer)? {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|error| de::Error::custom(format!("`{text}`: {error}"))),
    }
}

/// A value read from its text form, which must be there when the key is.
fn parsed<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    optional(deserializer)?.ok_or_else(|| de::Error::custom("empty"))
}

/// `true`/`false`, also as `1`/`0`, `yes`/`no`, `on`/`off`.
fn switch<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match text(deserializer)?
        .map(|t| t.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("false" | "0" | "no" | "off") => Ok(false),
        Some("true" | "1" | "yes" | "on") => Ok(true),
        Some(other) => Err(de::Error::custom(format!("`{other}`"))),
    }
}

fn as_text<S: serde::Serializer, T: Display>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocket::figment::providers::{Format, Serialized, Toml};
    use rocket::figment::Figment;

    /// Each default as text, by `oidc.<key>`.
    fn defaults() -> BTreeMap<String, String> {
        let value = serde_json::to_value(Fields::default()).unwrap();
        value
            .as_object()
            .unwrap()
            .iter()
            .map(|(key, value)| {
                let text = match value {
                    serde_json::Value::String(text) => text.trim_end_matches('/').to_string(),
                    other => other.to_string(),
                };
                (format!("oidc.{key}"), text)
            })
            .collect()
    }

    #[test]
    fn rocket_toml_shows_the_defaults_of_the_code() {
        let toml = Figment::from(Toml::string(include_str!("../../Rocket.toml")).nested());
        let fields: Fields = toml.extract_inner("oidc").unwrap();
        assert_eq!(fields, Fields::default());
        // It shows most of them (the others are commented out there).
        let table: figment::value::Dict = toml.extract_inner("oidc").unwrap();
        assert!(table.len() >= 5, "{table:?}");
    }

    #[test]
    fn the_readme_table_shows_the_defaults_of_the_code() {
        let readme = include_str!("../../README.md");
        let defaults = defaults();
        let mut compared = 0;
        for row in readme.lines().filter(|line| line.starts_with("| `")) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let (Some(key), Some(default)) = (cells.get(2), cells.get(3)) else {
                continue;
            };
            let key = key.trim_matches('`');
            let Some(expected) = defaults.get(key) else {
                continue;
            };
            let shown = default.split('`').nth(1).unwrap_or(default);
            assert_eq!(shown, expected, "README.md's default of {key}");
            compared += 1;
        }
        assert_eq!(
            compared,
            defaults.len(),
            "every default is in README.md's table"
        );
    }

    #[test]
    fn a_value_of_the_wrong_form_names_the_setting_and_how_to_write_it() {
        for (key, value, name) in [
            (
                "oidc.clock_skew_secs",
                "soon",
                "CLOCK_SKEW_SECS (oidc.clock_skew_secs)",
            ),
            (
                "oidc.metrics_address",
                "localhost",
                "METRICS_ADDRESS (oidc.metrics_address)",
            ),
            ("oidc.par", "sometimes", "PAR (oidc.par)"),
            (
                "oidc.session_samesite",
                "none",
                "SESSION_SAMESITE (oidc.session_samesite)",
            ),
            ("oidc.dpop", "maybe", "DPOP (oidc.dpop)"),
        ] {
            let figment = Figment::from(Serialized::default(key, value));
            let message = read(&figment).unwrap_err().to_string();
            assert!(
                message.starts_with(&format!("{name} is invalid")),
                "{message}"
            );
        }
    }

    #[test]
    fn blank_values_are_unset() {
        let figment = Figment::from(Serialized::default("oidc.metrics_address", " "))
            .merge(Serialized::default("oidc.client_secret", ""))
            .merge(Serialized::default("oidc.dpop", ""));
        assert_eq!(read(&figment).unwrap(), Fields::default());
    }
}
