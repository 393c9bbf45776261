//! The JSON API behind the page's **Call API** button. Every route takes `ApiUser`, so a
//! missing, expired or tampered session is a 401 (scripts) or a redirect (navigations).

use rocket::serde::json::{json, Value};
use rocket::{get, routes, Route};

use crate::session::ApiUser;

pub fn routes() -> Vec<Route> {
    routes![hello]
}

#[get("/hello")]
fn hello(user: ApiUser) -> Value {
    let ApiUser(session) = user;
    json!({
        "message": format!("Hello, {}!", session.display_name()),
        "sub": session.sub,
        "name": session.claims.get("name"),
    })
}
