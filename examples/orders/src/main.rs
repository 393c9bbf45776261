//! Runs the example: `cargo run -p orders-example`, then open http://localhost:3000/login and
//! http://localhost:3000/api/orders (with no issuer configured, the development IdP logs you in).
//!
//! The host installs its own log subscriber; the BFF only emits events into it.

use std::process::ExitCode;

#[rocket::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_target(false).init();
    match orders_example::app(oidc_bff::figment()).launch().await {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            // A configuration error was logged by the BFF's fairing as it failed.
            eprintln!("orders-example: {error}");
            ExitCode::FAILURE
        }
    }
}
