//! `GET /session`: what the page may know about its session, as JSON, never cached: who is
//! logged in (`sub` and the claims of `SESSION_CLAIMS`), how strongly (`acr`, `auth_time`),
//! when the session ends (`expires_at`, however active; `idle_expires_at`, unless a request
//! renews it first; both Unix seconds) and how to log out. Reading it renews nothing, so a page
//! that polls it does not keep its session alive. Without a session: 401
//! `{"error":"login_required","login_url":…}`, as every API answers.
//!
//! `POST /session/extend` (the page's "stay signed in", with `X-CSRF: 1` like every API call
//! that changes something) renews the idle window now and answers the same JSON.

use rocket::http::{CookieJar, Header};
use rocket::serde::json::{json, Value};
use rocket::{get, post, routes, Responder, Route, State};
use serde_json::Map;

use crate::clock;
use crate::config::Settings;
use crate::session::{self, ApiUser, Session, SessionPeek, Sessions};

/// The routes.
pub fn routes() -> Vec<Route> {
    routes![read, extend]
}

/// JSON that no cache keeps, whatever the security headers say.
#[derive(Responder)]
#[response(content_type = "json")]
struct Uncached {
    body: Value,
    cache: Header<'static>,
}

#[get("/session")]
fn read(peek: SessionPeek, settings: &State<Settings>, sessions: &State<Sessions>) -> Uncached {
    let SessionPeek(session) = peek;
    Uncached::new(view(&session, settings, sessions))
}

#[post("/session/extend")]
fn extend(
    user: ApiUser<'_>,
    jar: &CookieJar<'_>,
    settings: &State<Settings>,
    sessions: &State<Sessions>,
) -> Uncached {
    let ApiUser(session) = user;
    let renewed = session::renew(jar, &sessions.policy, session, clock::now());
    Uncached::new(view(&renewed, settings, sessions))
}

impl Uncached {
    fn new(body: Value) -> Self {
        Self {
            body,
            cache: Header::new("Cache-Control", "no-store"),
        }
    }
}

/// What the page may know of `session`.
fn view(session: &Session, settings: &Settings, sessions: &Sessions) -> Value {
    let claims = session.claims();
    let shown: Map<String, Value> = settings
        .session_claims
        .iter()
        .filter_map(|name| Some((name.clone(), claims.get(name)?.clone())))
        .collect();
    let absolute_end = session.absolute_end(&sessions.policy);
    json!({
        "sub": session.sub,
        // The identity provider it came from, by name (`default`: the single-issuer one).
        "provider": session.idp.as_deref().unwrap_or(crate::config::DEFAULT_PROVIDER),
        "claims": shown,
        "acr": claims.get("acr"),
        "auth_time": claims.get("auth_time"),
        "expires_at": absolute_end,
        "idle_expires_at": session.idle_end(&sessions.policy).min(absolute_end),
        // A form POST from this origin (the same-origin check applies); a script may send the
        // `X-CSRF: 1` header its API calls carry.
        "logout": {"url": "/logout", "method": "POST", "headers": {"X-CSRF": "1"}},
    })
}
