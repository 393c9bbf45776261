//! The keys of Rocket's private cookies as derived from a secret, and the previous ones that
//! still decrypt during a rotation.

use std::fmt;
use std::sync::Arc;

use hkdf::Hkdf;
use rocket::http::Cookie;
use sha2::Sha256;

/// HKDF-SHA256 (salt `oidc-bff`, info `rocket secret_key`) of a secret: the 512-bit key of
/// Rocket's private cookies. Must never change, or every session is lost at the upgrade.
pub(crate) fn derive_cookie_key(secret: &[u8]) -> Result<[u8; 64], hkdf::InvalidLength> {
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
