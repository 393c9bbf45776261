//! How the app's cookies (the session, login attempts, the logout hint) are sealed and read.
//!
//! The app seals each value itself ([`CookieKeys`]: AES-256-GCM bound to the cookie's name,
//! in base64url) rather than through Rocket's private cookies: their standard base64 puts `/`,
//! `+` and `=` in the value, which travel percent-encoded and which Rocket percent-decodes on
//! every request, and they derive the AES key again for every cookie read.
//!
//! Cookies of earlier releases (Rocket's private cookies) are still read, under the current
//! key or one of `PREVIOUS_SECRETS`, and so is a cookie sealed under a previous secret; either
//! is re-issued in the current form on the same response, so a deploy or a rotation logs
//! nobody out.

use rocket::http::{Cookie, CookieJar};

use crate::crypto::CookieKeys;

/// Sets `cookie` with its value sealed under the current secret.
pub fn add(jar: &CookieJar<'_>, keys: &CookieKeys, mut cookie: Cookie<'static>) {
    let sealed = keys.seal(cookie.name(), cookie.value());
    cookie.set_value(sealed);
    jar.add(cookie);
}

/// The value of the app's cookie `name`, opened. A cookie sealed under a previous secret, or
/// in an earlier release's form, is passed (opened) to `reissue`, and what it returns (the
/// cookie with the attributes of its first issuance) is set in the current form; `None` sets
/// nothing (e.g. the cookie is removed on this response anyway).
pub fn read(
    jar: &CookieJar<'_>,
    keys: &CookieKeys,
    name: &str,
    reissue: impl FnOnce(&str) -> Option<Cookie<'static>>,
) -> Option<String> {
    let sent = jar.get(name)?;
    let (value, current) = match keys.open(name, sent.value()) {
        Some(opened) => opened,
        None => {
            let earlier = jar
                .get_private(name)
                .or_else(|| keys.earlier_release.decrypt(sent))?;
            (earlier.value().to_string(), false)
        }
    };
    if !current {
        tracing::debug!(
            cookie = name,
            "cookie of a previous secret or release; re-issued in the current form"
        );
        if let Some(fresh) = reissue(&value) {
            add(jar, keys, fresh);
        }
    }
    Some(value)
}
