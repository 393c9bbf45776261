//! The APIs behind the BFF (`/api/<name>/…`): `[default.oidc.remote_apis]` in `Rocket.toml`
//! (name → `{ url, token }`) and `REMOTE_APIS` (`name=url` pairs separated by commas, token
//! policy `user`), the variable winning for a name both give. An API's `resource` and
//! `scopes` ask for a token of its own ([`Audience`]).

use std::collections::BTreeMap;

use serde::Deserialize;
use url::Url;

use super::api_token::{self, Audience, TokenPolicy};
use super::error::ConfigError;

/// One API behind the BFF.
#[derive(Debug, Clone)]
pub struct RemoteApi {
    /// The name in `/api/<name>/…`.
    pub name: String,
    /// Where `/api/<name>/<rest>` goes: `<url>/<rest>`.
    pub url: Url,
    /// Which token is attached.
    pub token: TokenPolicy,
    /// `allowed_groups`: only sessions with one of these groups (in `GROUPS_CLAIM`) may call
    /// it; `None`: any caller its token policy lets through.
    pub allowed_groups: Option<Vec<String>>,
    /// `resource` / `scopes`: the API's own token is asked for with them; `None`: the
    /// session's token (or the app's plain client token).
    pub audience: Option<Audience>,
}

/// One entry of the `Rocket.toml` table, as written.
#[derive(Debug, Deserialize, PartialEq)]
pub(super) struct RawRemoteApi {
    url: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    allowed_groups: Option<Vec<String>>,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    scopes: Option<String>,
}

/// What the authorization request asks for so the APIs' own user tokens can be had: the login's
/// scopes plus the APIs' scopes (a refresh grant can only narrow what the login granted), and
/// every distinct resource of an API that may get a user token (RFC 8707 §2.1: repeated
/// `resource` parameters). A `client` API's resource is the app's, never asked of the user.
pub fn login_request(apis: &[RemoteApi], scopes: &str) -> (String, Vec<String>) {
    let mut all: Vec<&str> = scopes.split_whitespace().collect();
    let mut resources: Vec<String> = Vec::new();
    for api in apis.iter().filter(|api| api.token.may_use_user_token()) {
        let Some(audience) = &api.audience else {
            continue;
        };
        for scope in audience.scopes.iter().flat_map(|s| s.split(' ')) {
            if !all.contains(&scope) {
                all.push(scope);
            }
        }
        if let Some(resource) = &audience.resource {
            if !resources.contains(resource) {
                resources.push(resource.clone());
            }
        }
    }
    (all.join(" "), resources)
}

const NAME: &str = "REMOTE_APIS (oidc.remote_apis)";

/// The configured APIs, sorted by name; built-in API names cannot be taken. `uses_code`: the
/// response type gives the refresh token that user tokens per resource are obtained with.
pub(super) fn parse(
    table: Option<BTreeMap<String, RawRemoteApi>>,
    env: Option<&str>,
    uses_code: bool,
) -> Result<Vec<RemoteApi>, ConfigError> {
    let mut apis: BTreeMap<String, RemoteApi> = BTreeMap::new();
    for (name, raw) in table.unwrap_or_default() {
        let token = match raw.token.as_deref().map(str::trim) {
            None | Some("user") => TokenPolicy::User,
            Some("user-or-none") => TokenPolicy::UserOrNone,
            Some("none") => TokenPolicy::None,
            Some("client") => TokenPolicy::Client,
            Some("user-or-client") => TokenPolicy::UserOrClient,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: NAME,
                    detail: format!("token `{other}` for `{name}`"),
                    hint: "token is `user`, `user-or-none`, `client`, `user-or-client` or `none`",
                })
            }
        };
        let mut api = checked(&name, &raw.url, token)?;
        api.audience = api_token::checked(
            &name,
            token,
            raw.resource.as_deref(),
            raw.scopes.as_deref(),
            uses_code,
        )?;
        if let Some(groups) = raw.allowed_groups {
            let groups: Vec<String> = groups
                .iter()
                .map(|group| group.trim().to_string())
                .filter(|group| !group.is_empty())
                .collect();
            if groups.is_empty() {
                return Err(ConfigError::Invalid {
                    name: NAME,
                    detail: format!("allowed_groups of `{name}` is empty"),
                    hint: "name at least one group, or leave allowed_groups out",
                });
            }
            api.allowed_groups = Some(groups);
        }
        apis.insert(name, api);
    }
    for pair in env.unwrap_or_default().split(',').map(str::trim) {
        if pair.is_empty() {
            continue;
        }
        let Some((name, url)) = pair.split_once('=') else {
            return Err(ConfigError::Invalid {
                name: NAME,
                detail: format!("`{pair}`"),
                hint: "write name=url pairs separated by commas, e.g. orders=https://orders.internal/v1",
            });
        };
        let api = checked(name.trim(), url.trim(), TokenPolicy::User)?;
        apis.insert(api.name.clone(), api);
    }
    Ok(apis.into_values().collect())
}

fn checked(name: &str, url: &str, token: TokenPolicy) -> Result<RemoteApi, ConfigError> {
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !name_ok {
        return Err(ConfigError::Invalid {
            name: NAME,
            detail: format!("name `{name}`"),
            hint: "names are 1-64 lowercase letters, digits, `-` or `_`",
        });
    }
    if matches!(name, "hello" | "upstream") {
        return Err(ConfigError::Invalid {
            name: NAME,
            detail: format!("name `{name}`"),
            hint: "`hello` and `upstream` are the app's own APIs: choose another name",
        });
    }
    let mut parsed = Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some())
        .filter(|u| u.query().is_none() && u.fragment().is_none())
        .filter(|u| u.username().is_empty() && u.password().is_none())
        .ok_or(ConfigError::Invalid {
            name: NAME,
            detail: format!("url `{url}` of `{name}`"),
            hint: "an absolute http(s) URL without credentials, query or fragment",
        })?;
    // `<url>/<rest>`: the base path always ends with one slash.
    if !parsed.path().ends_with('/') {
        let path = format!("{}/", parsed.path());
        parsed.set_path(&path);
    }
    Ok(RemoteApi {
        name: name.to_string(),
        url: parsed,
        token,
        allowed_groups: None,
        audience: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[(&str, &str, Option<&str>)]) -> Option<BTreeMap<String, RawRemoteApi>> {
        Some(
            entries
                .iter()
                .map(|(name, url, token)| {
                    (
                        name.to_string(),
                        RawRemoteApi {
                            url: url.to_string(),
                            token: token.map(str::to_string),
                            allowed_groups: None,
                            resource: None,
                            scopes: None,
                        },
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn the_variable_gives_user_apis_and_wins_over_the_table() {
        let apis = parse(
            table(&[("orders", "https://a.example/v1", Some("none"))]),
            Some("orders=https://b.example/v2, stock=http://127.0.0.1:9000"),
            true,
        )
        .unwrap();
        assert_eq!(apis.len(), 2);
        assert_eq!(apis[0].name, "orders");
        assert_eq!(apis[0].url.as_str(), "https://b.example/v2/");
        assert_eq!(apis[0].token, TokenPolicy::User);
        assert_eq!(apis[1].url.as_str(), "http://127.0.0.1:9000/");
    }

    #[test]
    fn token_policies_are_read_from_the_table() {
        let apis = parse(
            table(&[
                ("a", "https://a.example", Some("user-or-none")),
                ("b", "https://b.example", Some("none")),
                ("c", "https://c.example", None),
            ]),
            None,
            true,
        )
        .unwrap();
        let policies: Vec<_> = apis.iter().map(|a| a.token).collect();
        assert_eq!(
            policies,
            [
                TokenPolicy::UserOrNone,
                TokenPolicy::None,
                TokenPolicy::User
            ]
        );
    }

    #[test]
    fn bad_names_urls_and_policies_are_refused() {
        for env in [
            "Orders=https://a.example",
            "a/b=https://a.example",
            "hello=https://a.example",
            "orders=ftp://a.example",
            "orders=https://user:pw@a.example",
            "orders=https://a.example/?x=1",
            "orders",
            "orders=/relative",
        ] {
            assert!(parse(None, Some(env), true).is_err(), "{env} accepted");
        }
        assert!(parse(
            table(&[("a", "https://a.example", Some("admin"))]),
            None,
            true
        )
        .is_err());
    }

    #[test]
    fn allowed_groups_are_kept_and_an_empty_list_is_refused() {
        let raw = |groups: Vec<&str>| {
            let mut entries = table(&[("a", "https://a.example", None)]).unwrap();
            entries.get_mut("a").unwrap().allowed_groups =
                Some(groups.into_iter().map(str::to_string).collect());
            Some(entries)
        };
        let apis = parse(raw(vec!["staff", " "]), None, true).unwrap();
        assert_eq!(apis[0].allowed_groups, Some(vec!["staff".to_string()]));
        let error = parse(raw(vec![" "]), None, true).unwrap_err().to_string();
        assert!(error.contains("allowed_groups of `a` is empty"), "{error}");
    }

    #[test]
    fn resource_and_scopes_are_read_from_the_table() {
        let mut entries = table(&[("a", "https://a.example", None)]).unwrap();
        let entry = entries.get_mut("a").unwrap();
        entry.resource = Some("https://a.example/api".into());
        entry.scopes = Some("read".into());
        let apis = parse(Some(entries), None, true).unwrap();
        let audience = apis[0].audience.clone().expect("an audience");
        assert_eq!(audience.resource.as_deref(), Some("https://a.example/api"));
        assert_eq!(audience.scopes.as_deref(), Some("read"));
        let mut implicit = table(&[("a", "https://a.example", None)]).unwrap();
        implicit.get_mut("a").unwrap().resource = Some("https://a.example/api".into());
        let error = parse(Some(implicit), None, false).unwrap_err().to_string();
        assert!(error.contains("resource of `a`"), "{error}");
    }
}
