//! Logging through `tracing`, filtered by `RUST_LOG` (default `info`). Rocket's own request
//! log is left off in `Rocket.toml` because it prints full URIs, which could carry tokens.

use tracing_subscriber::EnvFilter;

/// Installs the log subscriber (once; later calls keep the first).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second call (tests build the app many times) keeps the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}
