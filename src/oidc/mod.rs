//! Everything that speaks OpenID Connect: discovery, keys, the login attempt, ID token
//! validation and back-channel logout tokens. Nothing here knows about Rocket routes or cookies.

pub mod discovery;
pub mod fetch;
pub mod flow;
mod key_refetch;
pub mod keys;
pub mod login;
pub mod logout_token;
pub mod provider;
pub mod step_up;
pub mod tokens;
pub mod validate;
