//! Everything that speaks OpenID Connect: discovery, keys, the login attempt and ID token
//! validation. Nothing here knows about Rocket routes or cookies.

pub mod discovery;
pub mod flow;
pub mod login;
pub mod provider;
pub mod tokens;
pub mod validate;
