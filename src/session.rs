//! The session: an AES-256-GCM encrypted cookie (Rocket's private cookies) that holds who the
//! user is, and the request guards that read it. The cookie enforces its own idle and
//! absolute limits, so an old copy replayed after `Max-Age` is still refused.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use rocket::http::{Cookie, CookieJar, SameSite, Status};
use rocket::request::{FromRequest, Outcome, Request};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::oidc::flow::random_token;
use crate::oidc::validate::VerifiedIdToken;
use crate::store::Store;

/// Named so it cannot collide with an IdP's cookies on the same host (ports do not separate
/// cookies).
pub const SESSION_COOKIE: &str = "bff_session";

/// Browsers keep cookies of at most 4096 bytes (name and value); stay clear of it.
const MAX_COOKIE_BYTES: usize = 4000;
/// AES-GCM adds a 12-byte nonce and a 16-byte tag; base64 adds a third.
const ENCRYPTION_OVERHEAD: usize = 28;

/// Whether a private cookie `name=value` stays under the browser's limit once encrypted.
fn fits_in_a_cookie(name: &str, value: &str) -> bool {
    name.len() + 1 + (value.len() + ENCRYPTION_OVERHEAD).div_ceil(3) * 4 <= MAX_COOKIE_BYTES
}

/// Sets `Max-Age` and a matching `Expires` (Rocket would otherwise add `Expires` a week ahead).
pub fn lasting(mut cookie: Cookie<'static>, secs: i64) -> Cookie<'static> {
    let lifetime = rocket::time::Duration::seconds(secs);
    cookie.set_max_age(lifetime);
    cookie.set_expires(rocket::time::OffsetDateTime::now_utc() + lifetime);
    cookie
}

/// Claims kept when the whole set would not fit into the cookie.
pub const CLAIMS_KEPT_WHEN_TRIMMED: &[&str] = &[
    "sub",
    "iss",
    "aud",
    "iat",
    "exp",
    "auth_time",
    "sid",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "nickname",
    "email",
    "email_verified",
    "picture",
    "locale",
    "zoneinfo",
    "updated_at",
];

/// How sessions live and how their cookie is written.
#[derive(Debug, Clone)]
pub struct SessionPolicy {
    pub idle_timeout: Duration,
    pub absolute_lifetime: Duration,
    pub secure_cookies: bool,
}

impl SessionPolicy {
    /// The idle window is rolled forward only after this much of it has passed, so ordinary
    /// requests carry no `Set-Cookie`.
    fn renew_after_secs(&self) -> i64 {
        (self.idle_timeout.as_secs() as i64 / 20).max(1)
    }
}

/// What the session cookie holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// Random id of this session, used to refuse it after logout.
    pub id: String,
    pub sub: String,
    pub iss: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The ID token's claims (a JSON object), kept as text: most requests only need to know
    /// who is logged in, so the claims are parsed when a page asks for them (`claims()`).
    claims: Box<RawValue>,
    /// Unix seconds of login and of the last renewal of the idle window.
    pub created: i64,
    pub seen: i64,
}

impl PartialEq for Session {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.sub == other.sub
            && self.iss == other.iss
            && self.sid == other.sid
            && self.claims.get() == other.claims.get()
            && self.created == other.created
            && self.seen == other.seen
    }
}

/// The claims a display name is taken from, read without parsing the others.
#[derive(Deserialize, Default)]
pub struct Names<'a> {
    #[serde(borrow, default)]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    preferred_username: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    email: Option<Cow<'a, str>>,
}

impl Names<'_> {
    /// `name`, else `preferred_username`, else `email`, else `fallback`.
    pub fn display<'s>(&'s self, fallback: &'s str) -> &'s str {
        self.name
            .as_deref()
            .or(self.preferred_username.as_deref())
            .or(self.email.as_deref())
            .unwrap_or(fallback)
    }
}

impl Session {
    /// The ID token's claims (empty if the kept text is not an object).
    pub fn claims(&self) -> Map<String, Value> {
        serde_json::from_str(self.claims.get()).unwrap_or_default()
    }

    /// The claims that name the user (those that are strings).
    pub fn names(&self) -> Names<'_> {
        serde_json::from_str(self.claims.get()).unwrap_or_default()
    }

    /// `name`, else `preferred_username`, else `email`, else `sub`.
    pub fn display_name(&self) -> String {
        self.names().display(&self.sub).to_string()
    }

    fn expires_at(&self, policy: &SessionPolicy) -> i64 {
        let idle_end = self.seen + policy.idle_timeout.as_secs() as i64;
        let absolute_end = self.created + policy.absolute_lifetime.as_secs() as i64;
        idle_end.min(absolute_end)
    }

    pub fn is_expired(&self, policy: &SessionPolicy, now: i64) -> bool {
        now >= self.expires_at(policy) || self.seen > now + 60
    }

    /// How long records about this session must be kept (e.g. that it was logged out).
    pub fn remaining(&self, policy: &SessionPolicy, now: i64) -> Duration {
        Duration::from_secs(
            (self.created + policy.absolute_lifetime.as_secs() as i64 - now).max(1) as u64,
        )
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SessionError {
    #[error("the identity provider's claims are too large for a session cookie")]
    TooLarge,
}

/// Creates the session for a validated ID token and sets its cookie.
pub fn issue(
    jar: &CookieJar<'_>,
    policy: &SessionPolicy,
    token: VerifiedIdToken,
    now: i64,
) -> Result<Session, SessionError> {
    let (session, value) = fit_into_cookie(
        Session {
            id: random_token(),
            sub: token.subject,
            iss: token.issuer,
            sid: token.session_id,
            claims: RawValue::NULL.to_owned(),
            created: now,
            seen: now,
        },
        token.claims,
    )?;
    jar.add_private(session_cookie(policy, value, &session, now));
    Ok(session)
}

/// Puts `claims` into the session and serializes it, shedding what it must (claims outside the
/// kept list, then all but the names) to stay under the browser's cookie limit.
fn fit_into_cookie(
    mut session: Session,
    mut claims: Map<String, Value>,
) -> Result<(Session, String), SessionError> {
    let mut fits = |claims: &Map<String, Value>| -> Option<String> {
        session.claims = serde_json::value::to_raw_value(claims).ok()?;
        let json = serde_json::to_string(&session).ok()?;
        fits_in_a_cookie(SESSION_COOKIE, &json).then_some(json)
    };
    if let Some(json) = fits(&claims) {
        return Ok((session, json));
    }
    let before = claims.len();
    claims.retain(|name, _| CLAIMS_KEPT_WHEN_TRIMMED.contains(&name.as_str()));
    tracing::warn!(
        dropped = before - claims.len(),
        "ID token claims left out of the session cookie to keep it under 4 KB"
    );
    if let Some(json) = fits(&claims) {
        return Ok((session, json));
    }
    claims.retain(|name, _| matches!(name.as_str(), "sub" | "name" | "email"));
    let json = fits(&claims).ok_or(SessionError::TooLarge)?;
    Ok((session, json))
}

fn session_cookie(
    policy: &SessionPolicy,
    value: String,
    session: &Session,
    now: i64,
) -> Cookie<'static> {
    let cookie = Cookie::build((SESSION_COOKIE, value))
        .http_only(true)
        // Lax, not Strict: the navigation that follows the IdP's cross-site POST must carry it.
        .same_site(SameSite::Lax)
        .secure(policy.secure_cookies)
        .path("/")
        .build();
    lasting(cookie, (session.expires_at(policy) - now).max(0))
}

/// Removes the session cookie and records the session as ended until it would have expired,
/// so a copy of the cookie kept by someone is refused too.
pub async fn end(
    jar: &CookieJar<'_>,
    policy: &SessionPolicy,
    store: &dyn Store,
    now: i64,
) -> Option<Session> {
    let session = read_cookie(jar);
    if let Some(session) = &session {
        store
            .record_once(&ended_key(&session.id), session.remaining(policy, now))
            .await;
    }
    jar.remove_private(Cookie::build(SESSION_COOKIE).path("/"));
    session
}

/// The raw ID token, kept for `id_token_hint` at logout in its own encrypted cookie that the
/// browser sends to `/logout` only: in the session cookie it would double the bytes every
/// request carries and decrypts, and on the server it would cost memory per session (and a
/// shared store for several instances).
pub const LOGOUT_HINT_COOKIE: &str = "bff_logout_hint";
const LOGOUT_PATH: &str = "/logout";

/// Keeps the ID token for logout, bound to the session; a token too large for a cookie is left
/// out, and logout then goes without the hint (`client_id` still names the client).
pub fn keep_id_token(
    jar: &CookieJar<'_>,
    policy: &SessionPolicy,
    session: &Session,
    id_token: &str,
    now: i64,
) {
    let value = format!("{} {id_token}", session.id);
    if !fits_in_a_cookie(LOGOUT_HINT_COOKIE, &value) {
        tracing::debug!("ID token too large to keep for logout; logout will go without the hint");
        jar.remove_private(Cookie::build(LOGOUT_HINT_COOKIE).path(LOGOUT_PATH));
        return;
    }
    let cookie = Cookie::build((LOGOUT_HINT_COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(policy.secure_cookies)
        .path(LOGOUT_PATH)
        .build();
    let max_age = session.remaining(policy, now).as_secs() as i64;
    jar.add_private(lasting(cookie, max_age));
}

/// The ID token kept for the session that is ending (none if it belongs to another session);
/// the cookie is removed either way.
pub fn take_id_token(jar: &CookieJar<'_>, session_id: &str) -> Option<String> {
    let cookie = jar.get_private(LOGOUT_HINT_COOKIE);
    jar.remove_private(Cookie::build(LOGOUT_HINT_COOKIE).path(LOGOUT_PATH));
    let cookie = cookie?;
    let (owner, token) = cookie.value().split_once(' ')?;
    (owner == session_id).then(|| token.to_string())
}

fn ended_key(session_id: &str) -> String {
    format!("ended-session:{session_id}")
}

fn read_cookie(jar: &CookieJar<'_>) -> Option<Session> {
    let cookie = jar.get_private(SESSION_COOKIE)?;
    serde_json::from_str(cookie.value()).ok()
}

/// Why there is no usable session; logged at debug level, never shown in detail.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NoSession {
    /// No cookie, or one that does not decrypt (tampered, foreign key, truncated).
    Missing,
    Expired,
    LoggedOut,
}

/// Where to send someone who needs to log in, and whether to redirect or answer 401.
#[derive(Debug, Clone)]
pub struct LoginRequired {
    pub return_to: String,
    pub redirect: bool,
}

impl LoginRequired {
    pub fn login_url(&self) -> String {
        let mut url = String::from("/login?");
        url.push_str(
            &url::form_urlencoded::Serializer::new(String::new())
                .append_pair("returnTo", &self.return_to)
                .finish(),
        );
        url
    }
}

/// The services the guards need, managed by Rocket.
pub struct Sessions {
    pub policy: SessionPolicy,
    pub store: Arc<dyn Store>,
}

/// Reads, checks and, when due, renews the session; cached for the request, so guards borrow
/// it instead of copying its claims.
async fn current<'r>(req: &'r Request<'_>) -> &'r Result<Session, NoSession> {
    req.local_cache_async(async {
        let sessions = req.rocket().state::<Sessions>().ok_or(NoSession::Missing)?;
        let jar = req.cookies();
        let mut session = read_cookie(jar).ok_or(NoSession::Missing)?;
        let now = crate::clock::now();
        if session.is_expired(&sessions.policy, now) {
            return Err(NoSession::Expired);
        }
        if sessions.store.contains(&ended_key(&session.id)).await {
            return Err(NoSession::LoggedOut);
        }
        if now - session.seen >= sessions.policy.renew_after_secs() {
            session.seen = now;
            if let Ok(value) = serde_json::to_string(&session) {
                jar.add_private(session_cookie(&sessions.policy, value, &session, now));
            }
        }
        Ok(session)
    })
    .await
}

fn fail<T>(req: &Request<'_>, reason: NoSession, redirect: bool) -> Outcome<T, NoSession> {
    let return_to = req
        .uri()
        .query()
        .map(|q| format!("{}?{}", req.uri().path(), q))
        .unwrap_or_else(|| req.uri().path().to_string());
    req.local_cache(|| LoginRequired {
        return_to,
        redirect,
    });
    tracing::debug!(?reason, "no usable session");
    Outcome::Error((Status::Unauthorized, reason))
}

/// A logged-in user on a page: without a session, the browser is redirected to log in.
pub struct User<'r>(pub &'r Session);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for User<'r> {
    type Error = NoSession;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        match current(req).await {
            Ok(session) => Outcome::Success(User(session)),
            Err(reason) => fail(req, *reason, true),
        }
    }
}

/// A logged-in user calling `/api`: without a session, scripts get 401 JSON and top-level
/// browser navigations get a redirect to log in.
pub struct ApiUser<'r>(pub &'r Session);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ApiUser<'r> {
    type Error = NoSession;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        match current(req).await {
            Ok(session) => Outcome::Success(ApiUser(session)),
            Err(reason) => fail(req, *reason, is_navigation(req)),
        }
    }
}

/// Whether a request is a top-level browser navigation (redirect it) rather than a script's
/// fetch or XHR (answer 401). Fetch Metadata decides when present; a `cors` fetch is never a
/// navigation. Older clients: an `X-Requested-With` header means a script, and only a request
/// that asks for HTML is a navigation (a plain `fetch` sends `Accept: */*`).
pub fn is_navigation(req: &Request<'_>) -> bool {
    let headers = req.headers();
    if let Some(mode) = headers.get_one("Sec-Fetch-Mode") {
        let dest = headers.get_one("Sec-Fetch-Dest").unwrap_or("document");
        return mode.eq_ignore_ascii_case("navigate")
            && matches!(
                dest.to_ascii_lowercase().as_str(),
                "document" | "iframe" | "frame"
            );
    }
    if headers.get_one("X-Requested-With").is_some() {
        return false;
    }
    headers
        .get_one("Accept")
        .is_some_and(|accept| accept.to_ascii_lowercase().contains("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> SessionPolicy {
        SessionPolicy {
            idle_timeout: Duration::from_secs(100),
            absolute_lifetime: Duration::from_secs(1000),
            secure_cookies: true,
        }
    }

    fn session(created: i64, seen: i64) -> Session {
        Session {
            id: "id".into(),
            sub: "user".into(),
            iss: "https://idp".into(),
            sid: None,
            claims: RawValue::from_string("{}".into()).unwrap(),
            created,
            seen,
        }
    }

    #[test]
    fn idle_limit_expires_a_session_not_seen_for_the_idle_timeout() {
        assert!(!session(0, 50).is_expired(&policy(), 149));
        assert!(session(0, 50).is_expired(&policy(), 150));
    }

    #[test]
    fn absolute_limit_expires_a_session_even_when_active() {
        assert!(!session(0, 990).is_expired(&policy(), 999));
        assert!(session(0, 999).is_expired(&policy(), 1000));
    }

    #[test]
    fn oversized_claims_are_trimmed_to_the_kept_list() {
        let mut claims = Map::new();
        claims.insert("name".into(), Value::String("Alice".into()));
        claims.insert("huge".into(), Value::String("x".repeat(5000)));
        let (s, json) = fit_into_cookie(session(0, 0), claims).unwrap();
        assert!(json.contains("Alice"));
        assert!(!s.claims().contains_key("huge"));
        assert_eq!(s.display_name(), "Alice");
    }

    #[test]
    fn impossible_sessions_are_refused() {
        let mut s = session(0, 0);
        s.sub = "x".repeat(5000);
        assert_eq!(
            fit_into_cookie(s, Map::new()).map(|_| ()),
            Err(SessionError::TooLarge)
        );
    }

    #[test]
    fn the_display_name_falls_back_from_name_to_username_email_and_sub() {
        let with = |claims: &str| Session {
            claims: RawValue::from_string(claims.into()).unwrap(),
            ..session(0, 0)
        };
        assert_eq!(
            with(r#"{"name":"A\u00e9","email":"e@x"}"#).display_name(),
            "Aé"
        );
        assert_eq!(
            with(r#"{"preferred_username":"u","email":"e@x"}"#).display_name(),
            "u"
        );
        assert_eq!(with(r#"{"email":"e@x","name":5}"#).display_name(), "user");
        assert_eq!(with(r#"{"email":"e@x"}"#).display_name(), "e@x");
        assert_eq!(with("[]").display_name(), "user");
    }
}
