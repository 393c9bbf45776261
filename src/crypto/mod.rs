//! The app's own cryptography, apart from the protocol: sealing data at rest and the app's
//! cookies (AES-256-GCM under HKDF-derived keys), the private-cookie keys derived from
//! `SECRET` (the cookies of earlier releases), and random tokens.
//! Depends on nothing else in the crate.

mod cookie_keys;
mod random;
mod sealer;

pub use cookie_keys::{derive_cookie_key, CookieKeys, PreviousCookieKeys};
pub use random::random_token;
pub use sealer::{PreparedSealer, Sealer};
