//! Rocket with nothing of oidc-bff: the reference that bench/reference.sh measures the app
//! against (issue 23). Configured as the app runs in the benchmark: the same figment sources
//! (`Rocket.toml` of the working directory, `ROCKET_*`), log level off, Rocket's default
//! worker count, and a secret key derived from `SECRET`.
//!
//! - `GET /bare`: plain `ok`, no guard.
//! - `GET /private`: reads one private cookie (`bff_session`, as large as the app's session
//!   cookie) through a request guard and answers a small JSON; without it the guard fails and
//!   the 401 catcher answers JSON, as the app's guards do.
//! - `GET /unauth`: a 401 JSON body like the app's, answered by the handler itself.
//! - `GET /mint?<bytes>`: sets the private cookie with a value of `bytes` characters (the
//!   length of the app's encrypted session cookie value); called once before measuring.

use std::process::ExitCode;

use rocket::config::{LogLevel, SecretKey};
use rocket::http::{ContentType, Cookie, CookieJar, Status};
use rocket::request::{FromRequest, Outcome};
use rocket::serde::json::Json;
use rocket::serde::Serialize;
use rocket::{catch, catchers, get, routes, Config, Request};

/// The app's session cookie name on http (`bff_session`), so both Cookie headers are equal in size.
const COOKIE: &str = "bff_session";
/// The app's 401 body for a script (`routes/errors.rs`, `login_required`).
const UNAUTHORIZED: &str = r#"{"error":"login_required","login_url":"/login?returnTo=%2F"}"#;
/// A private cookie's value is base64 of a 12-byte nonce, the plaintext and a 16-byte tag.
const SEALING_BYTES: usize = 28;

#[get("/bare")]
fn bare() -> &'static str {
    "ok"
}

/// The subject stored in the private cookie (its value is `SUBJECT PADDING`).
struct Private(String);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Private {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        let sub = req
            .cookies()
            .get_private(COOKIE)
            .and_then(|c| c.value().split(' ').next().map(str::to_string));
        match sub {
            Some(sub) => Outcome::Success(Private(sub)),
            None => Outcome::Error((Status::Unauthorized, ())),
        }
    }
}

#[derive(Serialize)]
#[serde(crate = "rocket::serde")]
struct Hello {
    message: String,
    sub: String,
}

#[get("/private")]
fn private(user: Private) -> Json<Hello> {
    Json(Hello {
        message: format!("Hello, {}!", user.0),
        sub: user.0,
    })
}

#[get("/unauth")]
fn unauth() -> (Status, (ContentType, &'static str)) {
    (Status::Unauthorized, (ContentType::JSON, UNAUTHORIZED))
}

#[catch(401)]
fn unauthorized() -> (ContentType, &'static str) {
    (ContentType::JSON, UNAUTHORIZED)
}

/// Sets the cookie with an encrypted value of `bytes` characters (rounded down to a whole
/// base64 quantum), or answers 400 when that is too small to hold the subject.
#[get("/mint?<bytes>")]
fn mint(jar: &CookieJar<'_>, bytes: usize) -> Status {
    let sub = "bench-user";
    let plain = (bytes / 4 * 3).saturating_sub(SEALING_BYTES);
    if plain <= sub.len() {
        return Status::BadRequest;
    }
    let value = format!("{sub} {}", "x".repeat(plain - sub.len() - 1));
    jar.add_private(Cookie::build((COOKIE, value)).http_only(true).path("/"));
    Status::NoContent
}

fn config() -> Result<Config, String> {
    let secret = std::env::var("SECRET").map_err(|_| "SECRET is not set".to_string())?;
    // `derive_from` panics below 32 bytes: refuse first.
    if secret.len() < 32 {
        return Err("SECRET must be at least 32 bytes".into());
    }
    let mut config: Config = Config::figment()
        .extract()
        .map_err(|e| format!("configuration: {e}"))?;
    config.log_level = LogLevel::Off;
    config.secret_key = SecretKey::derive_from(secret.as_bytes());
    Ok(config)
}

#[rocket::main]
async fn main() -> ExitCode {
    let config = match config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("bff-reference: {error}");
            return ExitCode::FAILURE;
        }
    };
    let rocket = rocket::custom(config)
        .mount("/", routes![bare, private, unauth, mint])
        .register("/", catchers![unauthorized]);
    match rocket.launch().await {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bff-reference: {error}");
            ExitCode::FAILURE
        }
    }
}
