//! The session cookie (sealed by `keyring`): issued at login, renewed,
//! ended at logout, with the ID token kept beside it for logout; always under 4 KB.

use rocket::http::{Cookie, CookieJar, SameSite};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::keyring;
use super::model::{NameClaims, Session, SessionPolicy};
use super::wire;
use crate::crypto::random_token;
use crate::oidc::validate::VerifiedIdToken;
use crate::store::{Revocation, Store, StoreError};

/// Named so it cannot collide with an IdP's cookies on the same host (ports do not separate
/// cookies); over https it is `__Host-bff_session` ([`SessionPolicy::session_cookie_name`]).
pub const SESSION_COOKIE: &str = "bff_session";

/// Browsers keep cookies of at most 4096 bytes (name and value); stay clear of it.
const MAX_COOKIE_BYTES: usize = 4000;
/// The sealed form adds a version byte, a 12-byte nonce and a 16-byte tag; base64 a third.
const ENCRYPTION_OVERHEAD: usize = 29;

/// Whether a cookie `name=value` stays under the browser's limit once sealed.
fn fits_in_a_cookie(name: &str, value: &str) -> bool {
    name.len() + 1 + ((value.len() + ENCRYPTION_OVERHEAD) * 4).div_ceil(3) <= MAX_COOKIE_BYTES
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

/// Why a session could not be issued.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SessionError {
    /// Even the essential claims do not fit into a cookie.
    #[error("the identity provider's claims are too large for a session cookie")]
    TooLarge,
}

/// Creates the session for a validated ID token and sets its cookie.
pub fn issue(
    jar: &CookieJar<'_>,
    policy: &SessionPolicy,
    token: VerifiedIdToken,
    host: Option<Box<RawValue>>,
    idp: Option<String>,
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
            host,
            idp,
            names: NameClaims::default(),
        },
        token.claims,
    )?;
    keyring::add(
        jar,
        &policy.cookie_keys,
        session_cookie(policy, value, &session, now),
    );
    Ok(session)
}

/// Puts `claims` into the session and serializes it, shedding what it must (claims outside the
/// kept list, then all but the names) to stay under the browser's cookie limit.
fn fit_into_cookie(
    mut session: Session,
    mut claims: Map<String, Value>,
) -> Result<(Session, String), SessionError> {
    keep_apart(&mut session, &mut claims);
    let mut fits = |claims: &Map<String, Value>| -> Option<String> {
        session.claims = serde_json::value::to_raw_value(claims).ok()?;
        let json = wire::write(&session)?;
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

/// Every request carries and decrypts the cookie, so each claim is in it once: `iss`, `sub`
/// and `sid` are the session's own fields, and the names (when all are strings, else they stay
/// among the claims, as before) go beside the claims. Every other claim stays: the profile
/// page shows the ID token's claims, `aud` and `azp` included.
fn keep_apart(session: &mut Session, claims: &mut Map<String, Value>) {
    for (claim, field) in [
        ("iss", Some(&session.iss)),
        ("sub", Some(&session.sub)),
        ("sid", session.sid.as_ref()),
    ] {
        if claims.get(claim).and_then(Value::as_str) == field.map(String::as_str) {
            claims.remove(claim);
        }
    }
    const NAMES: [&str; 3] = ["name", "preferred_username", "email"];
    if NAMES
        .iter()
        .all(|n| claims.get(*n).is_none_or(Value::is_string))
    {
        let mut take = |claim| match claims.remove(claim) {
            Some(Value::String(value)) => Some(value),
            _ => None,
        };
        session.names = NameClaims {
            name: take("name"),
            preferred_username: take("preferred_username"),
            email: take("email"),
        };
    }
}

/// Renews the session's idle window now: the same session, seen now, in a new cookie.
pub fn renew(jar: &CookieJar<'_>, policy: &SessionPolicy, session: &Session, now: i64) -> Session {
    let mut renewed = session.clone();
    renewed.seen = now;
    if let Some(value) = wire::write(&renewed) {
        keyring::add(
            jar,
            &policy.cookie_keys,
            session_cookie(policy, value, &renewed, now),
        );
    }
    renewed
}

pub(super) fn session_cookie(
    policy: &SessionPolicy,
    value: String,
    session: &Session,
    now: i64,
) -> Cookie<'static> {
    let cookie = Cookie::build((policy.session_cookie_name(), value))
        .http_only(true)
        // Lax by default: the redirect that follows the IdP's cross-site POST carries it. With
        // Strict, the callback hands over through a same-origin page instead.
        .same_site(policy.same_site)
        .secure(policy.secure_cookies)
        .path("/")
        .build();
    lasting(cookie, (session.expires_at(policy) - now).max(0))
}

/// Revokes the session on every instance until it would have expired, so a copy of the cookie
/// kept by someone is refused too, then removes the session cookie. Fails closed: when the
/// store cannot record the revocation (on disk, or in Redis), the cookie is kept and the error
/// returned, so the caller answers 503 and the user can try again; a logout that only deleted
/// the browser's cookie would leave every copy of it working.
pub async fn end(
    jar: &CookieJar<'_>,
    policy: &SessionPolicy,
    store: &dyn Store,
    now: i64,
) -> Result<Option<Session>, StoreError> {
    let session = read_cookie(jar, policy);
    if let Some(session) = &session {
        let until = now + session.remaining(policy, now).as_secs() as i64;
        store
            .revoke(Revocation::of_session(&session.facts(), until))
            .await?;
        if let Err(error) = super::index::forget(store, session).await {
            tracing::warn!(%error, "the ended session is still listed under its user until it expires");
        }
    }
    remove_session_cookie(jar, policy);
    Ok(session)
}

/// Ends a session that can no longer be used (its tokens are gone): as [`end`], and when the
/// store cannot record it, the failure is logged and the cookie removed all the same.
pub async fn end_unusable(
    jar: &CookieJar<'_>,
    policy: &SessionPolicy,
    store: &dyn Store,
    now: i64,
) {
    if let Err(error) = end(jar, policy, store, now).await {
        tracing::error!(%error, "an unusable session could not be recorded as ended");
        remove_session_cookie(jar, policy);
    }
}

/// Removes the session cookie from the browser.
pub fn remove_session_cookie(jar: &CookieJar<'_>, policy: &SessionPolicy) {
    jar.remove(
        Cookie::build(policy.session_cookie_name())
            .path("/")
            .secure(policy.secure_cookies),
    );
}

/// The raw ID token, kept for `id_token_hint` at logout in its own encrypted cookie that the
/// browser sends to `/logout` only: in the session cookie it would double the bytes every
/// request carries and decrypts, and on the server it would cost memory per session (and a
/// shared store for several instances).
/// Over https it is `__Secure-bff_logout_hint` ([`SessionPolicy::logout_hint_cookie_name`]).
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
    let name = policy.logout_hint_cookie_name();
    if !fits_in_a_cookie(name, &value) {
        tracing::debug!("ID token too large to keep for logout; logout will go without the hint");
        jar.remove(
            Cookie::build(name)
                .path(LOGOUT_PATH)
                .secure(policy.secure_cookies),
        );
        return;
    }
    let cookie = Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(policy.secure_cookies)
        .path(LOGOUT_PATH)
        .build();
    let max_age = session.remaining(policy, now).as_secs() as i64;
    keyring::add(jar, &policy.cookie_keys, lasting(cookie, max_age));
}

/// The ID token kept for the session that is ending (none if it belongs to another session);
/// the cookie is removed either way. One kept under a previous secret (`PREVIOUS_SECRETS`) or
/// by an earlier release is read too; it is not re-issued, since this response removes it.
pub fn take_id_token(
    jar: &CookieJar<'_>,
    policy: &SessionPolicy,
    session_id: &str,
) -> Option<String> {
    let name = policy.logout_hint_cookie_name();
    let value = keyring::read(jar, &policy.cookie_keys, name, |_| None);
    jar.remove(
        Cookie::build(name)
            .path(LOGOUT_PATH)
            .secure(policy.secure_cookies),
    );
    let value = value?;
    let (owner, token) = value.split_once(' ')?;
    (owner == session_id).then(|| token.to_string())
}

/// The session in the cookie; one issued under a previous secret or by an earlier release is
/// re-issued in the current form, with the same value and attributes.
pub fn read_cookie(jar: &CookieJar<'_>, policy: &SessionPolicy) -> Option<Session> {
    let name = policy.session_cookie_name();
    let value = keyring::read(jar, &policy.cookie_keys, name, |value| {
        let session = wire::read(value)?;
        let value = value.to_string();
        Some(session_cookie(policy, value, &session, crate::clock::now()))
    })?;
    wire::read(&value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::model::tests::session;

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
}
