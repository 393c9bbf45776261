//! Reading the app's private cookies across a key rotation: Rocket's `get_private` knows only
//! the current key; a cookie it cannot read is tried under each key of `PREVIOUS_SECRETS` and,
//! when one opens it, re-issued under the current key on the same response.

use rocket::http::{Cookie, CookieJar};

use crate::crypto::PreviousCookieKeys;

/// The private cookie `name`, decrypted under the current key or, failing that, under a
/// previous one. A cookie read under a previous key is passed (decrypted) to `reissue`, and
/// what it returns (the cookie with the attributes of its first issuance) is set under the
/// current key; `None` sets nothing (e.g. the cookie is removed on this response anyway).
///
/// Without previous keys, or for a cookie under the current key, this is `jar.get_private`
/// and nothing more.
pub fn get_private(
    jar: &CookieJar<'_>,
    previous: &PreviousCookieKeys,
    name: &str,
    reissue: impl FnOnce(&Cookie<'static>) -> Option<Cookie<'static>>,
) -> Option<Cookie<'static>> {
    if let Some(cookie) = jar.get_private(name) {
        return Some(cookie);
    }
    if previous.is_empty() {
        return None;
    }
    let cookie = previous.decrypt(jar.get(name)?)?;
    tracing::debug!(
        cookie = name,
        "cookie read under a previous key; re-issued under the current one"
    );
    if let Some(fresh) = reissue(&cookie) {
        jar.add_private(fresh);
    }
    Some(cookie)
}
