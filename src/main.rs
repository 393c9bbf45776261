// Request paths must not panic: no unwrap/expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

use std::process::ExitCode;

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

async fn check() -> ExitCode {
    let report = oidc_bff::check::run(oidc_bff::figment()).await;
    println!("{report}");
    match report.passed() {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    }
}
