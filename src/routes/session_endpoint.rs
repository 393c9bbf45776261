//! `GET /session`: what the page may know about its session, as JSON, never cached: who is
//! logged in (`sub` and the claims of `SESSION_CLAIMS`), how strongly (`acr`, `auth_time`),
//! when the session ends (`expires_at`, however active; `idle_expires_at`, unless a request
//! renews it first; both Unix seconds) and how to log out. Reading it renews nothing, so a page
//! that polls it does not keep its session alive. Without a session: 401
//! `{"error":"login_required","login_url":…}`, as every API answers.

use rocket::http::Header;
use rocket::serde::json::{json, Value};
use rocket::{get, routes, Responder, Route, State};
use serde_json::Map;

use crate::config::Settings;
use crate::session::{SessionPeek, Sessions};

/// The route.
pub fn routes() -> Vec<Route> {
    routes![session]
}

/// JSON that no cache keeps, whatever the security headers say.
#[derive(Responder)]
#[response(content_type = "json")]
struct Uncached {
    body: Value,
    cache: Header<'static>,
}

#[get("/session")]
fn session(peek: SessionPeek, settings: &State<Settings>, sessions: &State<Sessions>) -> Uncached {
    let SessionPeek(session) = peek;
    let claims = session.claims();
    let shown: Map<String, Value> = settings
        .session_claims
        .iter()
        .filter_map(|name| Some((name.clone(), claims.get(name)?.clone())))
        .collect();
    let body = json!({
        "sub": session.sub,
        "claims": shown,
        "acr": claims.get("acr"),
        "auth_time": claims.get("auth_time"),
        "expires_at": session.absolute_end(&sessions.policy),
        "idle_expires_at": session.idle_end(&sessions.policy).min(session.absolute_end(&sessions.policy)),
        // A form POST from this origin (the same-origin check applies); a script may send the
        // `X-CSRF: 1` header its API calls carry.
        "logout": {"url": "/logout", "method": "POST", "headers": {"X-CSRF": "1"}},
    });
    Uncached {
        body,
        cache: Header::new("Cache-Control", "no-store"),
    }
}
