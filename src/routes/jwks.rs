//! `GET /.well-known/jwks.json`: the public key the app signs its client assertions with
//! (`private_key_jwt`), so an IdP can register the app by `jwks_uri` and follow a key change
//! without a new registration. Empty (`{"keys":[]}`) without `CLIENT_PRIVATE_KEY`.

use rocket::get;
use rocket::http::Header;
use rocket::serde::json::{json, Json, Value};
use rocket::{routes, Responder, Route, State};

use crate::config::Settings;
use crate::oidc::client_auth::public_jwks;

/// `GET /.well-known/jwks.json`.
pub fn routes() -> Vec<Route> {
    routes![jwks]
}

/// The key set, cacheable for a while like any IdP's (it changes only with a restart).
#[derive(Responder)]
struct KeySet {
    body: Json<Value>,
    cache: Header<'static>,
}

#[get("/.well-known/jwks.json")]
fn jwks(settings: &State<Settings>) -> KeySet {
    let body = match &settings.fapi.client_key {
        Some(key) => public_jwks(key),
        None => json!({ "keys": [] }),
    };
    KeySet {
        body: Json(body),
        cache: Header::new("Cache-Control", "public, max-age=300"),
    }
}
