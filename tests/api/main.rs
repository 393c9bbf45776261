//! The app's integration tests in one binary (one link of the whole tree instead of one per
//! file): a module per concern, and the shared helpers in `helpers` (the in-process test IdP,
//! the app wired to it, a test upstream, Redis and app processes started and stopped by PID).
//!
//! `cargo test --test api <module>::` runs one concern, e.g. `cargo test --test api code_flow::`.

mod helpers;

mod access_rules;
mod backchannel_logout;
mod code_flow;
mod cookies;
mod durable_store;
mod fapi;
mod gateway;
mod host_hooks;
mod host_options;
mod hostile_input;
mod id_token_rules;
mod key_rotation;
mod login_flow;
mod login_rate_limit;
mod operations;
mod providers;
mod providers_on_redis;
mod redis_store;
mod session;
mod session_endpoint;
mod session_extend;
mod shared_store;
mod silent_login;
mod step_up;
mod two_instances;
mod with_dev_idp;
