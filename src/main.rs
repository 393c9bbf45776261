//! The oidc-bff app: installs the log subscriber, builds the app (the BFF with its start page,
//! profile page and demo API) and serves it, or prints the one line that says what to fix.

// Request paths must not panic: no unwrap/expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::process::ExitCode;

use rocket::figment::Figment;
use serde::Deserialize;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system's malloc: a request allocates and frees a few dozen small
/// buffers (Rocket's and hyper's header maps, cookies, JSON), which glibc's malloc serves at
/// several times mimalloc's cost. The binary's choice only: the library leaves it to its host.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: oidc-bff [check]\n  (no argument)  serve\n  check          check the configuration, the identity provider and the store, then exit";

#[rocket::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => serve().await,
        ["check"] => check().await,
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("oidc-bff: unknown arguments {args:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

async fn serve() -> ExitCode {
    let figment = oidc_bff::figment();
    if let Err(error) = install_log_subscriber(&figment) {
        eprintln!("oidc-bff: {error}");
        return ExitCode::FAILURE;
    }
    let rocket = match oidc_bff::build_from(figment) {
        Ok(rocket) => rocket,
        Err(error) => {
            eprintln!("oidc-bff: {error}");
            return ExitCode::FAILURE;
        }
    };
    match rocket.launch().await {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("oidc-bff: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn check() -> ExitCode {
    let report = oidc_bff::check(oidc_bff::figment()).await;
    println!("{report}");
    match report.passed() {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    }
}

/// How log lines are written: `LOG_FORMAT` (`oidc.log_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, its fields at the top level, for log collectors.
    Json,
}

/// Logs through `tracing`, filtered by `RUST_LOG`. Without `RUST_LOG` the filter is `info`,
/// minus the request log in text mode: a developer's console gets the events, a log collector
/// (JSON) also one line per request.
fn install_log_subscriber(figment: &Figment) -> Result<(), String> {
    let format = match figment.extract_inner::<String>("oidc.log_format") {
        Err(error) if error.missing() => LogFormat::Text,
        Err(error) => return Err(format!("LOG_FORMAT (oidc.log_format) is invalid ({error})")),
        Ok(text) => match text.trim().to_ascii_lowercase().as_str() {
            "" | "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => {
                return Err(format!(
                    "LOG_FORMAT (oidc.log_format) is invalid ({text:?} is not a log format): use `text` or `json`"
                ))
            }
        },
    };
    let default = match format {
        LogFormat::Text => "info,request=off",
        LogFormat::Json => "info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let installed = match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_target(false)
            .try_init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_target(false)
            .try_init(),
    };
    installed.map_err(|error| format!("the log subscriber could not be installed: {error}"))
}
