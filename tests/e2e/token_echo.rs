//! A stand-in API for the resource story: answers every GET with the path it was called at
//! and the `Authorization` header it received, so the story can read which token each API got
//! (a test fixture: a real API never echoes its token).

use rocket::http::uri::fmt::Path;
use rocket::http::uri::Segments;
use rocket::serde::json::{json, Value};
use rocket::{get, routes, Request};

use crate::support::assert_port_free;

/// Where it listens (away from the app's 3000 and the IdP's 4000).
pub const PORT: u16 = 4310;

struct Authorization(Option<String>);

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for Authorization {
    type Error = ();
    async fn from_request(req: &'r Request<'_>) -> rocket::request::Outcome<Self, ()> {
        let header = req.headers().get_one("Authorization").map(str::to_string);
        rocket::request::Outcome::Success(Authorization(header))
    }
}

#[get("/<path..>")]
fn echo(path: Segments<'_, Path>, authorization: Authorization) -> Value {
    json!({ "path": path.collect::<Vec<_>>().join("/"), "authorization": authorization.0 })
}

/// Starts it on the current runtime; notify the handle to stop it.
pub async fn start() -> rocket::Shutdown {
    assert_port_free(PORT, "the token echo API");
    let config = rocket::Config {
        port: PORT,
        address: std::net::Ipv4Addr::LOCALHOST.into(),
        log_level: rocket::config::LogLevel::Off,
        // Stopped through its handle on the harness's runtime, never by a signal.
        shutdown: rocket::config::Shutdown {
            ctrlc: false,
            force: false,
            ..Default::default()
        },
        ..rocket::Config::debug_default()
    };
    let rocket = rocket::custom(config)
        .mount("/", routes![echo])
        .ignite()
        .await
        .expect("the token echo API ignites");
    let shutdown = rocket.shutdown();
    tokio::spawn(rocket.launch());
    shutdown
}
