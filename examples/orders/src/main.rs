//! Runs the example: `cargo run -p orders-example`, then open http://localhost:3000/login and
//! http://localhost:3000/api/orders (with no issuer configured, the development IdP logs you in).

use std::process::ExitCode;

#[rocket::main]
async fn main() -> ExitCode {
    let app = match orders_example::app(oidc_bff::figment()) {
        Ok(app) => app,
        Err(error) => {
            eprintln!("orders-example: {error}");
            return ExitCode::FAILURE;
        }
    };
    match app.launch().await {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("orders-example: {error}");
            ExitCode::FAILURE
        }
    }
}
