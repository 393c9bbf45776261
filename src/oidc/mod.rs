//! Everything that speaks OpenID Connect: discovery, keys, the login attempt, ID token
//! validation, back-channel logout tokens, client authentication, PAR and DPoP. Nothing here knows about Rocket routes or cookies.

pub mod client_auth;
pub mod directory;
pub mod discovery;
pub mod dpop;
pub mod fetch;
pub mod flow;
mod key_refetch;
pub mod keys;
pub mod logout_token;
pub mod provider;
pub mod providers;
pub mod step_up;
pub mod validate;
pub mod values;

// Where the rest of the crate finds the requests' types and errors.
pub use provider::{completion, par, token_endpoint};
