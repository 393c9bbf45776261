//! The login attempt around the ID token: the authorization request, the transient cookie,
//! `state`, replay, IdP errors, return paths and bad callbacks.
//!
//! `request`: the authorization request and the cookies; `state`: `state`, the transient
//! cookie's single use, replay and parallel attempts; `callback`: IdP errors, bad callbacks and
//! return paths; `idp_and_headers`: an IdP that is down or another's, and the security headers.

mod callback;
mod idp_and_headers;
mod query_mode;
mod request;
mod state;
