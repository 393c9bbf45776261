//! The login attempts' transient cookies: one per attempt, named after its `state`, written at
//! `/login` and read once at `/callback`. `SameSite=None`, so the IdP's cross-site POST has it;
//! `Lax` for a query-mode attempt, whose answer is a top-level GET.

use rocket::http::{Cookie, CookieJar, SameSite};

use crate::config::ResponseMode;
use crate::oidc::flow::{LoginAttempt, LOGIN_ATTEMPT_LIFETIME_SECS};
use crate::session::{self, SessionPolicy};
/// At most this many login attempts are pending per browser; older ones are dropped.
const MAX_PENDING_LOGINS: usize = 4;

/// The cookie of the attempt whose state has this tag: `bff_login_<tag>`
/// (`__Host-bff_login_<tag>` over https).
pub(super) fn cookie_name(policy: &SessionPolicy, tag: &str) -> String {
    format!("{}{tag}", policy.login_cookie_prefix())
}

/// Sets the cookie of a new attempt.
pub(super) fn keep(
    jar: &CookieJar<'_>,
    policy: &SessionPolicy,
    attempt: &LoginAttempt,
) -> Result<(), serde_json::Error> {
    let value = serde_json::to_string(attempt)?;
    let name = cookie_name(policy, attempt.tag());
    let cookie = attempt_cookie(
        name,
        value,
        LOGIN_ATTEMPT_LIFETIME_SECS,
        attempt.response_mode,
    );
    session::add_cookie(jar, &policy.cookie_keys, cookie);
    Ok(())
}

fn attempt_cookie(
    name: String,
    value: String,
    max_age_secs: i64,
    mode: ResponseMode,
) -> Cookie<'static> {
    // The IdP's POST to /callback is cross-site: only `None` survives it, and `None`
    // requires `Secure` (which browsers accept on http://localhost). A redirect back with
    // the answer in the query is a top-level GET, which `Lax` goes with.
    let same_site = match mode {
        ResponseMode::FormPost => SameSite::None,
        ResponseMode::Query => SameSite::Lax,
    };
    let cookie = Cookie::build((name, value))
        .http_only(true)
        .same_site(same_site)
        .secure(true)
        .path("/")
        .build();
    session::lasting(cookie, max_age_secs)
}

/// Removes expired or unreadable attempts and, past the limit, the oldest ones.
pub(super) fn drop_stale_attempts(jar: &CookieJar<'_>, policy: &SessionPolicy, now_ms: i64) {
    let names: Vec<String> = jar
        .iter()
        .filter(|c| c.name().starts_with(policy.login_cookie_prefix()))
        .map(|c| c.name().to_string())
        .collect();
    let mut live = Vec::new();
    for name in names {
        match read_attempt(jar, policy, &name) {
            Some(attempt) if !attempt.is_expired(now_ms) => {
                live.push((attempt.started_at_ms, name))
            }
            _ => remove_login_cookie(jar, name),
        }
    }
    live.sort();
    let excess = (live.len() + 1).saturating_sub(MAX_PENDING_LOGINS);
    for (_, name) in live.into_iter().take(excess) {
        remove_login_cookie(jar, name);
    }
}

/// The attempt in cookie `name`; one issued under a previous secret (`PREVIOUS_SECRETS`) or by
/// an earlier release is re-issued in the current form for the rest of its lifetime.
pub(super) fn read_attempt(
    jar: &CookieJar<'_>,
    policy: &SessionPolicy,
    name: &str,
) -> Option<LoginAttempt> {
    let value = session::read_app_cookie(jar, &policy.cookie_keys, name, |value| {
        let attempt: LoginAttempt = serde_json::from_str(value).ok()?;
        let remaining_secs = (attempt.expires_at_ms() - crate::clock::now_ms()) / 1000;
        (remaining_secs > 0).then(|| {
            attempt_cookie(
                name.to_string(),
                value.to_string(),
                remaining_secs,
                attempt.response_mode,
            )
        })
    })?;
    serde_json::from_str(&value).ok()
}

pub(super) fn remove_login_cookie(jar: &CookieJar<'_>, name: String) {
    jar.remove(
        Cookie::build(name)
            .path("/")
            .same_site(SameSite::None)
            .secure(true),
    );
}
