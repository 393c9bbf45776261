//! The session cookie and the guards: API answers, 401 versus 302, tampering, expiry, logout.
//!
//! `guards`: what a request without a session gets (401 JSON or a redirect) and the pages with
//! one; `cookie`: tampered, foreign and oversized cookies; `lifetime`: idle and absolute
//! expiry and renewal; `logout`.

use crate::helpers;

mod cookie;
mod guards;
mod lifetime;
mod logout;

use helpers::text;
use rocket::http::{Cookie, Header};
use rocket::local::asynchronous::Client;

/// `GET /api/hello` as a script, presenting `value` as the session cookie.
async fn api_with_cookie(app: &helpers::TestApp, value: &str) -> u16 {
    api_answer(&app.client, value).await.0
}

/// `GET /api/hello` as a script on `client`, presenting `value` as the session cookie: the
/// status and the JSON body.
async fn api_answer(client: &Client, value: &str) -> (u16, serde_json::Value) {
    let response = client
        .get("/api/hello")
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .cookie(Cookie::new("bff_session", value.to_string()))
        .dispatch()
        .await;
    let status = response.status().code;
    let body = serde_json::from_str(&text(response).await).unwrap_or_default();
    (status, body)
}
