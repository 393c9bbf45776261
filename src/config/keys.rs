//! The keys `SECRET` and `PREVIOUS_SECRETS` give besides Rocket's own `secret_key`.

use std::fmt;
use std::sync::Arc;

use rocket::http::Cookie;

use super::sealer::Sealer;

/// The keys `SECRET` and `PREVIOUS_SECRETS` give besides Rocket's `secret_key`.
pub(super) struct Keys {
    pub(super) previous_cookie_keys: PreviousCookieKeys,
    pub(super) sealer: Sealer,
}

/// The private-cookie keys of `PREVIOUS_SECRETS`, stretched as `SECRET` is: cookies issued
/// under them still decrypt, and are then re-issued under the current key (Rocket's
/// `secret_key`, which alone encrypts). Empty unless a rotation is under way; cheap to clone.
#[derive(Clone)]
pub struct PreviousCookieKeys(Arc<[cookie::Key]>);

impl PreviousCookieKeys {
    pub(super) fn new(keys: Vec<cookie::Key>) -> Self {
        Self(keys.into())
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// No previous keys: only the current key decrypts.
    pub fn none() -> Self {
        Self(Arc::from(Vec::new()))
    }

    /// Whether there are no previous keys to try.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `cookie` (as the browser sent it) decrypted under the first previous key that
    /// authenticates it, or `None`.
    pub fn decrypt(&self, cookie: &Cookie<'static>) -> Option<Cookie<'static>> {
        let jar = cookie::CookieJar::new();
        self.0
            .iter()
            .find_map(|key| jar.private(key).decrypt(cookie.clone()))
    }
}

impl Default for PreviousCookieKeys {
    fn default() -> Self {
        Self::none()
    }
}

impl fmt::Debug for PreviousCookieKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PreviousCookieKeys({} keys)", self.len())
    }
}
