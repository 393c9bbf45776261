//! Logging through `tracing`, filtered by `RUST_LOG`, as text or, with `LOG_FORMAT=json`, one
//! JSON object per line; and the request log with its request ids. Without `RUST_LOG` the
//! filter is `info`, minus the request log in text mode: a developer's console gets the
//! events, a log collector (JSON) also one line per request.
//! Rocket's own request log is left off in `Rocket.toml` because it prints full URIs, which
//! could carry tokens: [`RequestLog`] prints the route's template instead.

mod request_log;

use tracing_subscriber::EnvFilter;

pub use request_log::{request_id, RequestId, RequestLog};

use crate::config::ConfigError;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object per line, its fields at the top level, for log collectors.
    Json,
}

impl LogFormat {
    /// From `LOG_FORMAT` (`text` or `json`; unset means text).
    pub fn from_env() -> Result<Self, ConfigError> {
        match std::env::var("LOG_FORMAT") {
            Err(_) => Ok(Self::Text),
            Ok(value) => match value.trim().to_ascii_lowercase().as_str() {
                "" | "text" => Ok(Self::Text),
                "json" => Ok(Self::Json),
                _ => Err(ConfigError::Invalid {
                    name: "LOG_FORMAT",
                    detail: format!("{value:?} is not a log format"),
                    hint: "use `text` or `json`",
                }),
            },
        }
    }
}

/// Installs the log subscriber (once; later calls keep the first).
pub fn init() -> Result<(), ConfigError> {
    let format = LogFormat::from_env()?;
    let default = match format {
        LogFormat::Text => "info,request=off",
        LogFormat::Json => "info",
    };
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // A second call (tests build the app many times) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_target(false)
            .try_init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_env_filter(filter())
            .with_target(false)
            .try_init(),
    };
    Ok(())
}
