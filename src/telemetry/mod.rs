//! The request log with its request ids. The log subscriber is the app's business (`main.rs`
//! installs one, a host app its own): this module only emits events. Rocket's own request log
//! is left off in `Rocket.toml` because it prints full URIs, which could carry tokens:
//! [`RequestLog`] prints the route's template instead.

mod request_log;

pub use request_log::{request_id, RequestId, RequestLog};
