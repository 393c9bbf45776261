//! The request guards that read the session (`User` for pages, `ApiUser` for `/api`), and
//! what they leave for the 401 catcher: where to log in, and whether to redirect there.

use std::sync::Arc;

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};

use super::cookie::{read_cookie, session_cookie};
use super::model::{Session, SessionPolicy};
use crate::store::Store;

/// Why there is no usable session; logged at debug level, never shown in detail.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NoSession {
    /// No cookie, or one that does not decrypt (tampered, foreign key, truncated).
    Missing,
    /// Past its idle or absolute limit.
    Expired,
    /// Ended by logout (here, on another instance, or by the IdP's back-channel logout).
    LoggedOut,
    /// Whether it was ended cannot be checked now: the store's list of ended sessions is out
    /// of date. Answered with 503, and the cookie is kept for when the store is back.
    Unverifiable,
    /// Not looked at: an API call with an unsafe method lacks the CSRF marks (`X-CSRF: 1`,
    /// same-origin). Answered with 403.
    CrossSite,
    /// A valid session that a host route's rule does not let in. Answered with 403.
    NotAllowed,
}

/// Where to send someone who needs to log in, and whether to redirect or answer 401.
#[derive(Debug, Clone)]
pub struct LoginRequired {
    /// The path (and query) to come back to after login.
    pub return_to: String,
    /// Redirect to log in (navigation) or answer 401 JSON (script).
    pub redirect: bool,
}

impl LoginRequired {
    /// `/login?returnTo=…` for this request.
    pub fn login_url(&self) -> String {
        const START: &str = "/login?returnTo=";
        let mut url = String::with_capacity(START.len() + 3 * self.return_to.len());
        url.push_str(START);
        url.extend(url::form_urlencoded::byte_serialize(
            self.return_to.as_bytes(),
        ));
        url
    }
}

/// The services the guards need, managed by Rocket.
pub struct Sessions {
    /// How sessions live.
    pub policy: SessionPolicy,
    /// Where ended sessions are recorded.
    pub store: Arc<dyn Store>,
}

/// Reads, checks and, when due, renews the session; cached for the request, so guards borrow
/// it instead of copying its claims.
async fn current<'r>(req: &'r Request<'_>) -> &'r Result<Session, NoSession> {
    req.local_cache_async(async {
        let (mut session, sessions, now) = checked(req)?;
        if now - session.seen >= sessions.policy.renew_after_secs() {
            session.seen = now;
            if let Some(value) = super::wire::write(&session) {
                let cookie = session_cookie(&sessions.policy, value, &session, now);
                super::keyring::add(req.cookies(), &sessions.policy.cookie_keys, cookie);
            }
        }
        Ok(session)
    })
    .await
}

/// The session of the request's cookie, if it is within its limits and not ended; with the
/// sessions' state and the time it was checked at. Renews nothing.
fn checked<'r>(req: &'r Request<'_>) -> Result<(Session, &'r Sessions, i64), NoSession> {
    let sessions = req.rocket().state::<Sessions>().ok_or(NoSession::Missing)?;
    let session = read_cookie(req.cookies(), &sessions.policy).ok_or(NoSession::Missing)?;
    let now = crate::clock::now();
    if session.is_expired(&sessions.policy, now) {
        return Err(NoSession::Expired);
    }
    match sessions.store.is_revoked(&session.facts()) {
        Ok(false) => Ok((session, sessions, now)),
        Ok(true) => Err(NoSession::LoggedOut),
        Err(error) => {
            tracing::warn!(%error, "session not checked against the ended sessions");
            Err(NoSession::Unverifiable)
        }
    }
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
    let status = match reason {
        NoSession::Unverifiable => Status::ServiceUnavailable,
        _ => Status::Unauthorized,
    };
    Outcome::Error((status, reason))
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
/// browser navigations get a redirect to log in. An unsafe method (POST, PUT, PATCH,
/// DELETE, ...) must also carry `X-CSRF: 1` and come from the same origin, else 403.
pub struct ApiUser<'r>(pub &'r Session);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for ApiUser<'r> {
    type Error = NoSession;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        if let Some(reason) = crate::csrf::refusal(req) {
            tracing::warn!(reason, "cross-site API call refused");
            crate::metrics::csrf_refusal(req.route().map_or("-", |route| route.uri.as_str()));
            return Outcome::Error((Status::Forbidden, NoSession::CrossSite));
        }
        match current(req).await {
            Ok(session) => Outcome::Success(ApiUser(session)),
            Err(reason) => fail(req, *reason, is_navigation(req)),
        }
    }
}

/// The session as the page asks about it (`GET /session`): checked like [`ApiUser`]'s, but
/// never renewed, so a page that polls it does not keep the session alive. Without one, the
/// answer is always 401 JSON (never a redirect).
pub struct SessionPeek(pub Session);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SessionPeek {
    type Error = NoSession;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        match checked(req) {
            Ok((session, _, _)) => Outcome::Success(SessionPeek(session)),
            Err(reason) => {
                // After logging in, the start page: not this JSON.
                req.local_cache(|| LoginRequired {
                    return_to: "/".into(),
                    redirect: false,
                });
                fail(req, reason, false)
            }
        }
    }
}

/// Whether a request is a top-level browser navigation (redirect it) rather than a script's
/// fetch or XHR (answer 401). Fetch Metadata decides when present; a `cors` fetch is never a
/// navigation. Older clients: an `X-Requested-With` header means a script, and only a request
/// that asks for HTML is a navigation (a plain `fetch` sends `Accept: */*`).
pub fn is_navigation(req: &Request<'_>) -> bool {
    let header = |name| crate::header_lookup::first(req.headers(), name);
    if let Some(mode) = header("Sec-Fetch-Mode") {
        // The destination only for a navigation: every logged-out script call comes here.
        return mode.eq_ignore_ascii_case("navigate") && {
            let dest = header("Sec-Fetch-Dest").unwrap_or("document");
            ["document", "iframe", "frame"]
                .iter()
                .any(|page| dest.eq_ignore_ascii_case(page))
        };
    }
    if header("X-Requested-With").is_some() {
        return false;
    }
    // Compared in place, so nothing is allocated.
    header("Accept").is_some_and(|accept| {
        accept
            .as_bytes()
            .windows(b"text/html".len())
            .any(|part| part.eq_ignore_ascii_case(b"text/html"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_url_is_form_encoded_and_needs_no_json_escaping() {
        for return_to in ["/", "/api/hello", "/a b?x=1&y=\"'\\<>", "/é/%2F", "//evil"] {
            let url = LoginRequired {
                return_to: return_to.into(),
                redirect: false,
            }
            .login_url();
            let expected = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("returnTo", return_to)
                .finish();
            assert_eq!(url, format!("/login?{expected}"));
            // The 401 catcher writes it into JSON as it is.
            assert_eq!(serde_json::to_string(&url).unwrap(), format!("\"{url}\""));
        }
    }
}
