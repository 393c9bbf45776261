//! The shared store's settings: read only when `REDIS_URL` is set, in which case several
//! instances keep their records in one Redis (or Redis Cluster) instead of each in memory.

use std::fmt;
use std::time::Duration;

use rocket::figment::value::Value;
use rocket::figment::Figment;
use url::Url;

use super::error::{non_empty, ConfigError};

const URL_NAME: &str = "REDIS_URL (oidc.redis_url)";
const URL_HINT: &str = "use redis://[user:password@]host[:port][/db] (rediss:// for TLS), or several redis://host:port separated by commas for a cluster";

/// One node's address as written in `REDIS_URL`, credentials included. Printed (`Debug`,
/// [`RedisUrl::redacted`]) without its password.
#[derive(Clone, PartialEq)]
pub struct RedisUrl(Url);

impl RedisUrl {
    /// The URL as the Redis client needs it, password included: never log it.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether the connection is TLS (`rediss://`).
    pub fn tls(&self) -> bool {
        self.0.scheme() == "rediss"
    }

    /// The database number (the URL's path; 0 when absent).
    pub fn db(&self) -> u32 {
        self.0.path().trim_matches('/').parse().unwrap_or(0)
    }

    /// The URL with its password replaced by `***`, for logs and error messages.
    pub fn redacted(&self) -> String {
        let mut shown = self.0.clone();
        if shown.password().is_some() {
            // Only fails for URLs that cannot have credentials, which a parsed redis:// URL can.
            let _ = shown.set_password(Some("***"));
        }
        shown.to_string()
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({})", self.redacted())
    }
}

/// Where the shared store is and how long to wait for it.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisSettings {
    /// One URL for a standalone server; several for the seed nodes of a cluster.
    pub nodes: Vec<RedisUrl>,
    /// How long opening a connection may take (`REDIS_CONNECT_TIMEOUT_MS`).
    pub connect_timeout: Duration,
    /// How long one command may take before the store answers `Timeout`
    /// (`REDIS_COMMAND_TIMEOUT_MS`).
    pub command_timeout: Duration,
    /// Put before every key and channel name, so several apps can share one Redis
    /// (`REDIS_KEY_PREFIX`).
    pub key_prefix: String,
    /// How long an instance that lost its revocation feed keeps answering from its last copy
    /// (`REDIS_SYNC_GRACE_SECS`).
    pub sync_grace: Duration,
}

impl RedisSettings {
    /// Whether `REDIS_URL` names the nodes of a cluster.
    pub fn is_cluster(&self) -> bool {
        self.nodes.len() > 1
    }
}

/// The Redis settings, or `None` when `REDIS_URL` is unset (the embedded memory store).
pub(super) fn read(figment: &Figment) -> Result<Option<RedisSettings>, ConfigError> {
    let url: Option<String> = match figment.extract_inner::<String>("oidc.redis_url") {
        Ok(url) => non_empty(Some(url)),
        Err(error) if error.missing() => None,
        Err(_) => {
            return Err(ConfigError::Invalid {
                name: URL_NAME,
                detail: "not a string".into(),
                hint: URL_HINT,
            })
        }
    };
    let Some(url) = url else {
        return Ok(None);
    };
    let nodes = parse_nodes(&url)?;
    let key_prefix = match figment.extract_inner::<String>("oidc.redis_key_prefix") {
        Ok(prefix) => non_empty(Some(prefix)),
        Err(error) if error.missing() => None,
        Err(_) => Some(String::new()),
    }
    .unwrap_or_else(|| "oidc-bff:".into());
    if key_prefix.contains(['{', '}']) || key_prefix.chars().any(char::is_whitespace) {
        return Err(ConfigError::Invalid {
            name: "REDIS_KEY_PREFIX (oidc.redis_key_prefix)",
            detail: format!("`{key_prefix}`"),
            hint: "use letters, digits and punctuation other than braces (which are Redis Cluster hash tags), e.g. myapp:",
        });
    }
    let millis = |path, name, default| number(figment, path, name, default, 1..=60_000);
    Ok(Some(RedisSettings {
        nodes,
        connect_timeout: Duration::from_millis(millis(
            "oidc.redis_connect_timeout_ms",
            "REDIS_CONNECT_TIMEOUT_MS (oidc.redis_connect_timeout_ms)",
            2000,
        )?),
        command_timeout: Duration::from_millis(millis(
            "oidc.redis_command_timeout_ms",
            "REDIS_COMMAND_TIMEOUT_MS (oidc.redis_command_timeout_ms)",
            500,
        )?),
        key_prefix,
        sync_grace: Duration::from_secs(number(
            figment,
            "oidc.redis_sync_grace_secs",
            "REDIS_SYNC_GRACE_SECS (oidc.redis_sync_grace_secs)",
            30,
            0..=3600,
        )?),
    }))
}

/// `REDIS_URL`: one URL, or several separated by commas (a cluster's seed nodes).
fn parse_nodes(text: &str) -> Result<Vec<RedisUrl>, ConfigError> {
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    let count = items.len();
    let mut nodes = Vec::with_capacity(count);
    for (index, item) in items.iter().enumerate() {
        let position = match count {
            1 => String::new(),
            _ => format!("node {} of {count}: ", index + 1),
        };
        let invalid = |detail: String| ConfigError::Invalid {
            name: URL_NAME,
            detail: format!("{position}{detail}"),
            hint: URL_HINT,
        };
        // The parser's message never repeats the text, which may hold a password.
        let url = Url::parse(item).map_err(|e| invalid(e.to_string()))?;
        let node = RedisUrl(url);
        let url = &node.0;
        if !matches!(url.scheme(), "redis" | "rediss") {
            return Err(invalid(format!("scheme `{}`", url.scheme())));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid(format!("no host in {}", node.redacted())));
        }
        let path = url.path().trim_matches('/');
        if !path.is_empty() && path.parse::<u32>().is_err() {
            return Err(invalid(format!(
                "the path of {} is not a database number",
                node.redacted()
            )));
        }
        if url.fragment().is_some() {
            return Err(invalid(format!("a fragment in {}", node.redacted())));
        }
        nodes.push(node);
    }
    if count > 1 {
        if let Some(node) = nodes.iter().find(|n| n.db() != 0) {
            return Err(ConfigError::Invalid {
                name: URL_NAME,
                detail: format!("database {} in {}", node.db(), node.redacted()),
                hint: "Redis Cluster has database 0 only: leave the path out of cluster URLs",
            });
        }
        if nodes.iter().any(|n| n.tls() != nodes[0].tls()) {
            return Err(ConfigError::Invalid {
                name: URL_NAME,
                detail: "redis:// and rediss:// mixed".into(),
                hint:
                    "the nodes of one cluster are all reached with TLS (rediss://) or all without",
            });
        }
    }
    Ok(nodes)
}

/// A whole number within `range`, `default` when unset.
fn number(
    figment: &Figment,
    path: &str,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let value = match figment.extract_inner::<u64>(path) {
        Ok(value) => value,
        Err(error) if error.missing() => return Ok(default),
        Err(_) => {
            let shown = figment.find_value(path).map(|v| describe(&v));
            return Err(ConfigError::Invalid {
                name,
                detail: shown.unwrap_or_else(|_| "unreadable".into()),
                hint: "it must be a whole number",
            });
        }
    };
    if !range.contains(&value) {
        return Err(ConfigError::Invalid {
            name,
            detail: value.to_string(),
            hint: match *range.start() {
                0 => "use a number of seconds up to 3600",
                _ => "use a number of milliseconds from 1 to 60000",
            },
        });
    }
    Ok(value)
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(_, text) => format!("`{text}`"),
        Value::Num(_, num) => num
            .to_i128()
            .map_or_else(|| "not a whole number".into(), |n| n.to_string()),
        _ => "not a number".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Option<RedisSettings>, ConfigError> {
        let mut figment = Figment::new();
        for (key, value) in pairs {
            figment = figment.merge((format!("oidc.{key}"), *value));
        }
        read(&figment)
    }

    #[test]
    fn without_a_url_there_is_no_redis() {
        assert_eq!(settings(&[]).unwrap(), None);
        assert_eq!(settings(&[("redis_url", "  ")]).unwrap(), None);
    }

    #[test]
    fn a_standalone_url_takes_the_defaults() {
        let redis = settings(&[("redis_url", "redis://u:p@cache:6380/2")])
            .unwrap()
            .unwrap();
        assert!(!redis.is_cluster());
        assert_eq!(redis.nodes[0].db(), 2);
        assert!(!redis.nodes[0].tls());
        assert_eq!(redis.connect_timeout, Duration::from_millis(2000));
        assert_eq!(redis.command_timeout, Duration::from_millis(500));
        assert_eq!(redis.key_prefix, "oidc-bff:");
        assert_eq!(redis.sync_grace, Duration::from_secs(30));
    }

    #[test]
    fn comma_separated_urls_are_a_cluster() {
        let redis = settings(&[("redis_url", "rediss://a:1, rediss://b:2,rediss://c:3")])
            .unwrap()
            .unwrap();
        assert!(redis.is_cluster());
        assert!(redis.nodes.iter().all(RedisUrl::tls));
        let err = settings(&[("redis_url", "redis://a:1/1,redis://b:2")]).unwrap_err();
        assert!(err.to_string().contains("database 0 only"), "{err}");
        let err = settings(&[("redis_url", "redis://a:1,rediss://b:2")]).unwrap_err();
        assert!(err.to_string().contains("mixed"), "{err}");
    }

    #[test]
    fn a_bad_url_is_one_line_naming_the_setting_without_the_password() {
        for url in [
            "http://u:hunter2@cache:6379",
            "redis://u:hunter2@cache:6379/zero",
            "redis://u:hunter2@cache:notaport",
            "redis://a:1,,redis://b:2",
            "redis://u:hunter2@/0",
        ] {
            let err = settings(&[("redis_url", url)]).unwrap_err().to_string();
            assert!(err.starts_with("REDIS_URL"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn the_password_is_not_printed() {
        let redis = settings(&[("redis_url", "redis://user:hunter2@cache:6379")])
            .unwrap()
            .unwrap();
        assert!(!format!("{redis:?}").contains("hunter2"));
        assert_eq!(redis.nodes[0].redacted(), "redis://user:***@cache:6379");
        assert!(redis.nodes[0].as_str().contains("hunter2"));
    }

    #[test]
    fn timeouts_grace_and_prefix_are_checked() {
        let url = ("redis_url", "redis://cache");
        let err = settings(&[url, ("redis_command_timeout_ms", "soon")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "REDIS_COMMAND_TIMEOUT_MS (oidc.redis_command_timeout_ms) is invalid (`soon`): \
             it must be a whole number"
        );
        let figment = Figment::new()
            .merge(("oidc.redis_url", "redis://cache"))
            .merge(("oidc.redis_connect_timeout_ms", 0));
        let err = read(&figment).unwrap_err().to_string();
        assert!(err.starts_with("REDIS_CONNECT_TIMEOUT_MS"), "{err}");
        let figment = Figment::new()
            .merge(("oidc.redis_url", "redis://cache"))
            .merge(("oidc.redis_sync_grace_secs", 0))
            .merge(("oidc.redis_key_prefix", "shop:"));
        let redis = read(&figment).unwrap().unwrap();
        assert_eq!(redis.sync_grace, Duration::ZERO);
        assert_eq!(redis.key_prefix, "shop:");
        let err = settings(&[url, ("redis_key_prefix", "{shop}:")]).unwrap_err();
        assert!(err.to_string().starts_with("REDIS_KEY_PREFIX"), "{err}");
    }
}
