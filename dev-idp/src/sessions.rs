//! The IdP's own sessions: who signed in at the IdP in this browser, so a second login can skip
//! the password form, as at a real IdP. Held in memory; the cookie carries a random id only.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::accounts::{self, Account};
use crate::authorize::{ACR_MFA, ACR_PASSWORD};
use crate::random::random_token;

/// The IdP session cookie (host-only on the IdP's host, so never sent to the app).
pub const COOKIE: &str = "devidp_session";
/// How long an IdP session lasts without a new password.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// Bound on remembered sessions; the oldest go first.
const MAX_SESSIONS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct IdpSession {
    pub username: &'static str,
    /// The session id put into ID tokens as `sid` (not the cookie's value).
    pub sid: String,
    pub auth_time: DateTime<Utc>,
    /// Whether the one-time code was given too (after the password, in this session).
    pub second_factor: bool,
    expires: Instant,
}

impl IdpSession {
    pub fn account(&self) -> Option<&'static Account> {
        accounts::find(self.username)
    }

    /// The authentication context class reached (the ID token's `acr`).
    pub fn acr(&self) -> &'static str {
        match self.second_factor {
            true => ACR_MFA,
            false => ACR_PASSWORD,
        }
    }

    /// The authentication methods used (the ID token's `amr`, RFC 8176 values).
    pub fn amr(&self) -> &'static [&'static str] {
        match self.second_factor {
            true => &["pwd", "otp", "mfa"],
            false => &["pwd"],
        }
    }
}

#[derive(Default)]
pub struct IdpSessions {
    by_cookie: Mutex<HashMap<String, IdpSession>>,
}

impl IdpSessions {
    /// Starts a session for `account`; returns the cookie value and the session.
    pub fn start(&self, account: &'static Account) -> (String, IdpSession) {
        let cookie = random_token();
        let session = IdpSession {
            username: account.username,
            sid: random_token(),
            auth_time: Utc::now(),
            second_factor: false,
            expires: Instant::now() + LIFETIME,
        };
        if let Ok(mut sessions) = self.by_cookie.lock() {
            let now = Instant::now();
            sessions.retain(|_, s| s.expires > now);
            if sessions.len() >= MAX_SESSIONS {
                if let Some(oldest) = sessions
                    .iter()
                    .min_by_key(|(_, s)| s.expires)
                    .map(|(k, _)| k.clone())
                {
                    sessions.remove(&oldest);
                }
            }
            sessions.insert(cookie.clone(), session.clone());
        }
        (cookie, session)
    }

    pub fn get(&self, cookie: &str) -> Option<IdpSession> {
        let sessions = self.by_cookie.lock().ok()?;
        sessions
            .get(cookie)
            .filter(|s| s.expires > Instant::now())
            .cloned()
    }

    /// Records the second factor for the session of `cookie`: its `auth_time` becomes now, as
    /// the user just authenticated again.
    pub fn add_second_factor(&self, cookie: &str) -> Option<IdpSession> {
        let mut sessions = self.by_cookie.lock().ok()?;
        let session = sessions
            .get_mut(cookie)
            .filter(|s| s.expires > Instant::now())?;
        session.second_factor = true;
        session.auth_time = Utc::now();
        Some(session.clone())
    }

    pub fn end(&self, cookie: &str) -> Option<IdpSession> {
        self.by_cookie.lock().ok()?.remove(cookie)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_cookie_until_it_ends() {
        let sessions = IdpSessions::default();
        let (cookie, session) = sessions.start(&accounts::ACCOUNTS[1]);
        assert_ne!(cookie, session.sid);
        assert_eq!(sessions.get(&cookie).map(|s| s.username), Some("bob"));
        assert!(sessions.get("guess").is_none());
        assert_eq!(sessions.get(&cookie).map(|s| s.acr()), Some("pwd"));
        assert_eq!(
            sessions.add_second_factor(&cookie).map(|s| s.acr()),
            Some("mfa")
        );
        assert!(sessions.add_second_factor("guess").is_none());
        assert!(sessions.end(&cookie).is_some());
        assert!(sessions.get(&cookie).is_none());
    }
}
