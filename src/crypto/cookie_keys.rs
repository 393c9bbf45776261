//! The keys of the app's cookies: the sealer of their current form, and the keys of Rocket's
//! private cookies (the form of earlier releases) as derived from a secret, with the previous
//! ones that still decrypt during a rotation.

use std::fmt;
use std::sync::Arc;

use hkdf::Hkdf;
use rocket::http::Cookie;
use sha2::Sha256;

use super::sealer::{PreparedSealer, Sealer};

/// The purpose the app's cookies are sealed for (see [`Sealer`]).
const COOKIE_PURPOSE: &str = "cookie";

/// What seals and opens the app's cookies (`session::keyring`). Cheap to clone.
#[derive(Clone, Debug)]
pub struct CookieKeys {
    /// Seals under `SECRET`, opens under it or one of `PREVIOUS_SECRETS`.
    sealer: PreparedSealer,
    /// Rocket's private-cookie keys of `PREVIOUS_SECRETS`, for cookies of earlier releases
    /// (Rocket's own `secret_key` opens those of the current secret).
    pub(crate) earlier_release: PreviousCookieKeys,
}

impl CookieKeys {
    /// The keys of `sealer`'s secrets, and the private-cookie keys of the previous ones.
    pub fn new(sealer: &Sealer, earlier_release: PreviousCookieKeys) -> Self {
        Self {
            sealer: sealer.prepare(COOKIE_PURPOSE),
            earlier_release,
        }
    }

    /// Keys of a random secret: what they seal opens only in this process.
    pub fn random() -> Self {
        Self::new(&Sealer::random(), PreviousCookieKeys::none())
    }

    /// `value` sealed under the current secret for the cookie `name` only.
    pub fn seal(&self, name: &str, value: &str) -> String {
        self.sealer.seal(name.as_bytes(), value.as_bytes())
    }

    /// The value of the cookie `name` sealed under the current or a previous secret, and
    /// whether it was the current one; `None` for anything else (another name included).
    pub fn open(&self, name: &str, sealed: &str) -> Option<(String, bool)> {
        let opened = self.sealer.open(name.as_bytes(), sealed)?;
        let value = String::from_utf8(opened.plaintext).ok()?;
        Some((value, !opened.under_previous_secret))
    }
}

/// HKDF-SHA256 (salt `oidc-bff`, info `rocket secret_key`) of a secret: the 512-bit key of
/// Rocket's private cookies. Must never change, or every session is lost at the upgrade.
pub fn derive_cookie_key(secret: &[u8]) -> Result<[u8; 64], hkdf::InvalidLength> {
    let mut key = [0u8; 64];
    Hkdf::<Sha256>::new(Some(b"oidc-bff"), secret).expand(b"rocket secret_key", &mut key)?;
    Ok(key)
}

/// The private-cookie keys of `PREVIOUS_SECRETS`, stretched as `SECRET` is: cookies issued
/// under them still decrypt, and are then re-issued under the current key (Rocket's
/// `secret_key`, which alone encrypts). Empty unless a rotation is under way; cheap to clone.
#[derive(Clone)]
pub struct PreviousCookieKeys(Arc<[cookie::Key]>);

impl PreviousCookieKeys {
    pub(crate) fn new(keys: Vec<cookie::Key>) -> Self {
        Self(keys.into())
    }

    pub(crate) fn len(&self) -> usize {
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
