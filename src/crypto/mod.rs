//! The app's own cryptography, apart from the protocol: sealing data at rest (AES-256-GCM
//! under HKDF-derived keys), the private-cookie keys derived from `SECRET`, and random tokens.
//! Depends on nothing else in the crate.

mod cookie_keys;
mod random;
mod sealer;

pub(crate) use cookie_keys::derive_cookie_key;
pub use cookie_keys::PreviousCookieKeys;
pub use random::random_token;
pub use sealer::Sealer;
