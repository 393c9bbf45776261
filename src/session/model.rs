//! What a session is: who logged in, when, and the claims kept for pages; and the idle and
//! absolute limits that end it.

use rocket::http::SameSite;
use std::borrow::Cow;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::crypto::CookieKeys;
use crate::store::SessionFacts;

/// How sessions live and how their cookie is written.
#[derive(Debug, Clone)]
pub struct SessionPolicy {
    /// A session ends after this long without a request.
    pub idle_timeout: Duration,
    /// A session ends this long after login, however active.
    pub absolute_lifetime: Duration,
    /// Whether cookies carry `Secure`.
    pub secure_cookies: bool,
    /// What seals the app's cookies under `SECRET` and opens them under it or one of
    /// `PREVIOUS_SECRETS` (cookies of those, or of earlier releases, are re-issued).
    pub cookie_keys: CookieKeys,
    /// The session cookie's `SameSite` (`SESSION_SAMESITE`): `Lax` by default, or `Strict`.
    pub same_site: SameSite,
    /// At most this many live sessions per user (`MAX_SESSIONS_PER_USER`).
    pub max_sessions_per_user: usize,
}

impl SessionPolicy {
    /// The session cookie's name: `__Host-` prefixed over https, so a browser accepts it only
    /// with `Secure`, `Path=/` and no `Domain` (a sibling subdomain cannot plant or shadow it).
    /// Plain `bff_session` on http://localhost development, where tools would refuse the prefix.
    pub fn session_cookie_name(&self) -> &'static str {
        match self.secure_cookies {
            true => "__Host-bff_session",
            false => "bff_session",
        }
    }

    /// The prefix of the login attempts' cookies, `__Host-` prefixed over https likewise.
    pub fn login_cookie_prefix(&self) -> &'static str {
        match self.secure_cookies {
            true => "__Host-bff_login_",
            false => "bff_login_",
        }
    }

    /// The logout hint's cookie (path `/logout`, so `__Secure-` rather than `__Host-`).
    pub fn logout_hint_cookie_name(&self) -> &'static str {
        match self.secure_cookies {
            true => "__Secure-bff_logout_hint",
            false => "bff_logout_hint",
        }
    }

    /// The idle window is rolled forward only after this much of it has passed, so ordinary
    /// requests carry no `Set-Cookie`.
    pub(super) fn renew_after_secs(&self) -> i64 {
        (self.idle_timeout.as_secs() as i64 / 20).max(1)
    }
}

/// What the session cookie holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// Random id of this session, used to refuse it after logout.
    pub id: String,
    /// The user's `sub` at the IdP.
    pub sub: String,
    /// The IdP's issuer identifier.
    pub iss: String,
    /// The IdP's session id (`sid`), when the ID token has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The ID token's claims (a JSON object), kept as text: most requests only need to know
    /// who is logged in, so the claims are parsed when a page asks for them (`claims()`).
    pub(super) claims: Box<RawValue>,
    /// Unix seconds of login.
    pub created: i64,
    /// Unix seconds of the last renewal of the idle window.
    pub seen: i64,
    /// What the host's login hook gave the session (a JSON object), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) host: Option<Box<RawValue>>,
    /// The identity provider it came from, by name, when there are several (`None`: the
    /// default one): its tokens are refreshed, and the session ended, there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    /// The claims that name the user, kept beside `claims` (not in it), so a request that
    /// greets the user parses no claims. Not in the object form of earlier cookies.
    #[serde(skip)]
    pub(super) names: NameClaims,
}

/// `name`, `preferred_username` and `email`, when they are strings.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct NameClaims {
    pub(super) name: Option<String>,
    pub(super) preferred_username: Option<String>,
    pub(super) email: Option<String>,
}

impl NameClaims {
    /// Read from claims that still hold them (cookies of earlier releases; tests).
    pub(super) fn read(claims: &RawValue) -> Self {
        let names: Names<'_> = serde_json::from_str(claims.get()).unwrap_or_default();
        let owned = |value: Option<Cow<'_, str>>| value.map(Cow::into_owned);
        Self {
            name: owned(names.name),
            preferred_username: owned(names.preferred_username),
            email: owned(names.email),
        }
    }
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
            && self.host.as_ref().map(|h| h.get()) == other.host.as_ref().map(|h| h.get())
            && self.idp == other.idp
            && self.names == other.names
    }
}

/// The claims a display name is taken from, read without parsing the others.
#[derive(Deserialize, Default)]
pub struct Names<'a> {
    /// The `name` claim.
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
    /// What the revocation check needs to know of it.
    pub fn facts(&self) -> SessionFacts<'_> {
        SessionFacts {
            id: &self.id,
            sid: self.sid.as_deref(),
            sub: &self.sub,
            created: self.created,
            idp: self.idp.as_deref(),
        }
    }

    /// What the host's login hook gave this session (empty without one).
    pub fn host_values(&self) -> Map<String, Value> {
        self.host
            .as_ref()
            .and_then(|host| serde_json::from_str(host.get()).ok())
            .unwrap_or_default()
    }

    /// The ID token's claims, with those the session keeps as its own fields (`iss`, `sub`,
    /// `sid`, the names) put back.
    pub fn claims(&self) -> Map<String, Value> {
        let mut claims: Map<String, Value> =
            serde_json::from_str(self.claims.get()).unwrap_or_default();
        let names = &self.names;
        for (claim, value) in [
            ("iss", Some(&self.iss)),
            ("sub", Some(&self.sub)),
            ("sid", self.sid.as_ref()),
            ("name", names.name.as_ref()),
            ("preferred_username", names.preferred_username.as_ref()),
            ("email", names.email.as_ref()),
        ] {
            if let Some(value) = value {
                claims
                    .entry(claim)
                    .or_insert_with(|| Value::String(value.clone()));
            }
        }
        claims
    }

    /// The claims that name the user (those that are strings).
    pub fn names(&self) -> Names<'_> {
        fn borrowed(value: &Option<String>) -> Option<Cow<'_, str>> {
            value.as_deref().map(Cow::Borrowed)
        }
        Names {
            name: borrowed(&self.names.name),
            preferred_username: borrowed(&self.names.preferred_username),
            email: borrowed(&self.names.email),
        }
    }

    /// `name`, else `preferred_username`, else `email`, else `sub`.
    pub fn display_name(&self) -> String {
        self.names().display(&self.sub).to_string()
    }

    /// When the session ends however active it is (Unix seconds).
    pub fn absolute_end(&self, policy: &SessionPolicy) -> i64 {
        self.created + policy.absolute_lifetime.as_secs() as i64
    }

    /// When the session ends unless a request renews it first (Unix seconds).
    pub fn idle_end(&self, policy: &SessionPolicy) -> i64 {
        self.seen + policy.idle_timeout.as_secs() as i64
    }

    pub(super) fn expires_at(&self, policy: &SessionPolicy) -> i64 {
        self.idle_end(policy).min(self.absolute_end(policy))
    }

    /// Whether the session is past a limit (or dated implausibly far in the future).
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn policy() -> SessionPolicy {
        SessionPolicy {
            same_site: SameSite::Lax,
            idle_timeout: Duration::from_secs(100),
            absolute_lifetime: Duration::from_secs(1000),
            secure_cookies: true,
            cookie_keys: CookieKeys::random(),
            max_sessions_per_user: 50,
        }
    }

    pub(in crate::session) fn session(created: i64, seen: i64) -> Session {
        Session {
            id: "id".into(),
            sub: "user".into(),
            iss: "https://idp".into(),
            sid: None,
            claims: RawValue::from_string("{}".into()).unwrap(),
            created,
            seen,
            host: None,
            idp: None,
            names: NameClaims::default(),
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
    fn the_display_name_falls_back_from_name_to_username_email_and_sub() {
        let with = |claims: &str| {
            let claims = RawValue::from_string(claims.into()).unwrap();
            Session {
                names: NameClaims::read(&claims),
                claims,
                ..session(0, 0)
            }
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
