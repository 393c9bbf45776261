// Request paths must not panic: no unwrap/expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::process::ExitCode;

#[rocket::main]
async fn main() -> ExitCode {
    let rocket = match oidc_bff::build() {
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
