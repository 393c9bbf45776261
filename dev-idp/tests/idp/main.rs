//! The development IdP's own behaviour, over real HTTP against `dev_idp::start` on a free
//! loopback port (no oidc-bff app involved), and its `dev-idp` binary.
//!
//! One test binary with a module per endpoint or concern: one link instead of one per file.

mod extract;
mod jwks_server;
mod receiver;
mod signer;
mod support;

mod authorize;
mod backchannel_logout;
mod binary;
mod clients;
mod discovery;
mod dpop;
mod dpop_code_binding;
mod dpop_resources;
mod end_session;
mod par;
mod private_key_jwt;
mod revocation;
mod sign_in;
mod step_up;
mod token;
mod userinfo;
