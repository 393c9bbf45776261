//! Sealing data at rest (tokens in the store) with keys derived from `SECRET`, opened with
//! `SECRET` or any of `PREVIOUS_SECRETS`.

use std::fmt;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;

/// The first byte of every sealed value: the format (AES-256-GCM, 96-bit nonce, HKDF key).
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// HKDF salt, as for the cookie key.
const SALT: &[u8] = b"oidc-bff";
/// HKDF info prefix; the purpose follows, so each purpose has its own key.
const INFO_PREFIX: &[u8] = b"oidc-bff at rest: ";

/// Encrypts and authenticates data at rest, such as the tokens kept in the store (which must
/// never hold one in the clear).
///
/// Each value is AES-256-GCM under a key derived with HKDF-SHA256 from the secret and a
/// *purpose* (`info = "oidc-bff at rest: " + purpose`), with a random 96-bit nonce and the
/// caller's associated data (e.g. the store key the value is kept under, so a value moved to
/// another key does not open). The result is base64url (no padding) of
/// `version (1 byte) || nonce || ciphertext || tag`.
///
/// [`seal`](Self::seal) uses `SECRET`; [`open`](Self::open) tries `SECRET`, then each of
/// `PREVIOUS_SECRETS`. Without `SECRET` (debug builds) the keys come from Rocket's
/// `secret_key` when one is set, else from a random per-process secret. Cloning shares the
/// keys (an `Arc`).
#[derive(Clone)]
pub struct Sealer {
    /// One HKDF state per secret, the current one first.
    secrets: Arc<[Hkdf<Sha256>]>,
}

impl Sealer {
    /// Seals with keys derived from `current`; opens with `current`, then each of `previous`.
    pub fn new(current: &[u8], previous: &[&[u8]]) -> Self {
        let secrets: Vec<Hkdf<Sha256>> = std::iter::once(current)
            .chain(previous.iter().copied())
            .map(|secret| Hkdf::<Sha256>::new(Some(SALT), secret))
            .collect();
        Self {
            secrets: secrets.into(),
        }
    }

    /// A sealer with a random secret: what it seals opens only in this process.
    pub fn random() -> Self {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        Self::new(&secret, &[])
    }

    /// The keys for `purpose`, derived once: for values sealed or opened on every request
    /// (the app's cookies), where deriving them each time would cost more than the sealing.
    pub fn prepare(&self, purpose: &str) -> PreparedSealer {
        let ciphers: Vec<Aes256Gcm> = self
            .secrets
            .iter()
            .map(|secret| cipher(secret, purpose))
            .collect();
        PreparedSealer {
            ciphers: ciphers.into(),
        }
    }

    /// Encrypts `plaintext` for `purpose`, bound to `associated_data` (which is not stored:
    /// [`open`](Self::open) needs the same bytes). Two seals of the same plaintext differ.
    ///
    /// AES-GCM refuses plaintexts over 64 GiB; for one (no token comes close) the result is
    /// empty, which never opens.
    pub fn seal(&self, purpose: &str, associated_data: &[u8], plaintext: &[u8]) -> String {
        let Some(secret) = self.secrets.first() else {
            return String::new();
        };
        seal_with(&cipher(secret, purpose), associated_data, plaintext)
    }

    /// The plaintext of a value [`seal`](Self::seal)ed for `purpose` with `associated_data`
    /// under the current or a previous secret; `None` if it is malformed, was tampered with,
    /// or was sealed for another purpose, other associated data or an unknown secret.
    pub fn open(&self, purpose: &str, associated_data: &[u8], sealed: &str) -> Option<Vec<u8>> {
        let parts = Parts::of(sealed)?;
        self.secrets
            .iter()
            .find_map(|secret| parts.open_with(&cipher(secret, purpose), associated_data))
    }
}

/// A [`Sealer`]'s keys for one purpose, derived once; the same format, so what one seals the
/// other opens. Cloning shares the keys.
#[derive(Clone)]
pub struct PreparedSealer {
    /// One cipher per secret, the current one first.
    ciphers: Arc<[Aes256Gcm]>,
}

/// What [`PreparedSealer::open`] found.
#[derive(Debug, PartialEq)]
pub struct Opened {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// Sealed under a previous secret: seal it again, under the current one.
    pub under_previous_secret: bool,
}

impl PreparedSealer {
    /// As [`Sealer::seal`], for this purpose.
    pub fn seal(&self, associated_data: &[u8], plaintext: &[u8]) -> String {
        match self.ciphers.first() {
            Some(cipher) => seal_with(cipher, associated_data, plaintext),
            None => String::new(),
        }
    }

    /// As [`Sealer::open`], for this purpose, saying whether a previous secret opened it.
    pub fn open(&self, associated_data: &[u8], sealed: &str) -> Option<Opened> {
        let parts = Parts::of(sealed)?;
        self.ciphers.iter().enumerate().find_map(|(index, cipher)| {
            let plaintext = parts.open_with(cipher, associated_data)?;
            Some(Opened {
                plaintext,
                under_previous_secret: index > 0,
            })
        })
    }
}

impl fmt::Debug for PreparedSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PreparedSealer({} secrets)", self.ciphers.len())
    }
}

fn seal_with(cipher: &Aes256Gcm, associated_data: &[u8], plaintext: &[u8]) -> String {
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    let payload = Payload {
        msg: plaintext,
        aad: associated_data,
    };
    let Ok(ciphertext) = cipher.encrypt(&Nonce::from(nonce), payload) else {
        return String::new();
    };
    let mut sealed = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    sealed.push(VERSION);
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    URL_SAFE_NO_PAD.encode(sealed)
}

/// A sealed value taken apart: its nonce, then the ciphertext with its tag.
struct Parts {
    bytes: Vec<u8>,
}

impl Parts {
    fn of(sealed: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        match bytes.first() {
            Some(&VERSION) if bytes.len() >= 1 + NONCE_LEN + TAG_LEN => Some(Self { bytes }),
            _ => None,
        }
    }

    fn open_with(&self, cipher: &Aes256Gcm, associated_data: &[u8]) -> Option<Vec<u8>> {
        let (nonce, ciphertext) = self.bytes[1..].split_first_chunk::<NONCE_LEN>()?;
        let payload = Payload {
            msg: ciphertext,
            aad: associated_data,
        };
        cipher.decrypt(&Nonce::from(*nonce), payload).ok()
    }
}

/// AES-256-GCM under HKDF-Expand(secret, "oidc-bff at rest: " + purpose).
fn cipher(secret: &Hkdf<Sha256>, purpose: &str) -> Aes256Gcm {
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit of 8160: expansion cannot fail.
    let _ = secret.expand_multi_info(&[INFO_PREFIX, purpose.as_bytes()], &mut key);
    let cipher = Aes256Gcm::new(&key.into());
    key.fill(0);
    cipher
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealer({} secrets)", self.secrets.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &[u8] = b"0123456789abcdef0123456789abcdef";
    const NEW: &[u8] = b"fedcba9876543210fedcba9876543210";

    #[test]
    fn a_sealed_value_opens_with_the_same_purpose_and_associated_data() {
        let sealer = Sealer::new(NEW, &[]);
        let sealed = sealer.seal("tokens", b"session-1", b"refresh token");
        assert_eq!(
            sealer.open("tokens", b"session-1", &sealed).unwrap(),
            b"refresh token"
        );
        assert_eq!(
            sealer
                .open("tokens", b"", &sealer.seal("tokens", b"", b""))
                .unwrap(),
            b""
        );
    }

    #[test]
    fn other_associated_data_does_not_open() {
        let sealer = Sealer::new(NEW, &[]);
        let sealed = sealer.seal("tokens", b"session-1", b"refresh token");
        assert!(sealer.open("tokens", b"session-2", &sealed).is_none());
        assert!(sealer.open("tokens", b"", &sealed).is_none());
    }

    #[test]
    fn another_purpose_does_not_open() {
        let sealer = Sealer::new(NEW, &[]);
        let sealed = sealer.seal("tokens", b"", b"refresh token");
        assert!(sealer.open("claims", b"", &sealed).is_none());
    }

    #[test]
    fn a_tampered_value_does_not_open() {
        let sealer = Sealer::new(NEW, &[]);
        let sealed = sealer.seal("tokens", b"ad", b"refresh token");
        let bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        for index in 0..bytes.len() {
            let mut tampered = bytes.clone();
            tampered[index] ^= 0x01;
            let tampered = URL_SAFE_NO_PAD.encode(tampered);
            assert!(
                sealer.open("tokens", b"ad", &tampered).is_none(),
                "byte {index}"
            );
        }
        let truncated = URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() - 1]);
        assert!(sealer.open("tokens", b"ad", &truncated).is_none());
        assert!(sealer.open("tokens", b"ad", "").is_none());
        assert!(sealer.open("tokens", b"ad", "not base64!").is_none());
    }

    #[test]
    fn a_value_sealed_before_a_rotation_opens_under_the_previous_secret() {
        let before = Sealer::new(OLD, &[]);
        let sealed = before.seal("tokens", b"ad", b"refresh token");
        let after = Sealer::new(NEW, &[OLD]);
        assert_eq!(
            after.open("tokens", b"ad", &sealed).unwrap(),
            b"refresh token"
        );
        // New values are sealed under the new secret only.
        let resealed = after.seal("tokens", b"ad", b"refresh token");
        assert!(before.open("tokens", b"ad", &resealed).is_none());
        assert!(Sealer::new(NEW, &[])
            .open("tokens", b"ad", &resealed)
            .is_some());
        // Once the old secret is dropped, what it sealed no longer opens.
        assert!(Sealer::new(NEW, &[])
            .open("tokens", b"ad", &sealed)
            .is_none());
    }

    #[test]
    fn the_same_plaintext_seals_differently_each_time() {
        let sealer = Sealer::new(NEW, &[]);
        let a = sealer.seal("tokens", b"ad", b"refresh token");
        let b = sealer.seal("tokens", b"ad", b"refresh token");
        assert_ne!(a, b);
        let a = URL_SAFE_NO_PAD.decode(a).unwrap();
        assert_eq!(a[0], VERSION);
        assert_eq!(a.len(), 1 + NONCE_LEN + b"refresh token".len() + TAG_LEN);
    }

    #[test]
    fn random_sealers_do_not_open_each_others_values() {
        let sealed = Sealer::random().seal("tokens", b"", b"x");
        assert!(Sealer::random().open("tokens", b"", &sealed).is_none());
    }

    #[test]
    fn a_prepared_sealer_shares_the_format_and_says_which_secret_opened() {
        let sealer = Sealer::new(NEW, &[OLD]);
        let prepared = sealer.prepare("cookie");
        let sealed = prepared.seal(b"name", b"value");
        assert_eq!(sealer.open("cookie", b"name", &sealed).unwrap(), b"value");
        assert_eq!(
            prepared.open(b"name", &sealer.seal("cookie", b"name", b"v")),
            Some(Opened {
                plaintext: b"v".to_vec(),
                under_previous_secret: false
            })
        );
        let before = Sealer::new(OLD, &[]).prepare("cookie").seal(b"name", b"v");
        assert!(
            prepared
                .open(b"name", &before)
                .unwrap()
                .under_previous_secret
        );
        assert!(prepared.open(b"other name", &sealed).is_none());
        assert!(sealer.prepare("tokens").open(b"name", &sealed).is_none());
    }

    #[test]
    fn an_unknown_version_does_not_open() {
        let sealer = Sealer::new(NEW, &[]);
        let mut bytes = URL_SAFE_NO_PAD
            .decode(sealer.seal("tokens", b"", b"x"))
            .unwrap();
        bytes[0] = 2;
        assert!(sealer
            .open("tokens", b"", &URL_SAFE_NO_PAD.encode(bytes))
            .is_none());
    }
}
