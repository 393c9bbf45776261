//! The floor for bench/run.sh: the app as `oidc_bff::build()` makes it (same config, state,
//! fairings, catchers), plus `GET /healthz` answering `ok` without reading any cookie. It
//! stands in for a health route until the app has one of its own.

use std::process::ExitCode;

#[rocket::get("/healthz")]
fn healthz() -> &'static str {
    "ok"
}

#[rocket::main]
async fn main() -> ExitCode {
    let rocket = match oidc_bff::build() {
        Ok(rocket) => rocket.mount("/", rocket::routes![healthz]),
        Err(error) => {
            eprintln!("bff-floor: {error}");
            return ExitCode::FAILURE;
        }
    };
    match rocket.launch().await {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bff-floor: {error}");
            ExitCode::FAILURE
        }
    }
}
