//! Every item of the `oidc_bff` crate that the tests use, in one place: when a module of the
//! app is renamed or made private, this file is the one to change. The API tests reach it as
//! `helpers::bff`; the browser tests include this file as their `bff` module.
#![allow(unused_imports)]

// The public API: build the app, its stores.
pub use oidc_bff::store::{Revocation, SessionFacts, StoreError};
pub use oidc_bff::{build_from, build_with_store, MemoryStore, RedisStore, Store};

// Settings as the app reads them: the whole set (`load`), Redis's part, the sealer for data
// at rest that the secrets give.
pub use oidc_bff::config::{load as load_settings, redis_settings, RedisSettings, Sealer};

// The app's clock (whole seconds), to compare with what it stores.
pub use oidc_bff::clock::now as app_now;

// The development IdP the app starts when no issuer is configured: its client's secret.
pub use oidc_bff::local_idp::DEFAULT_CLIENT_SECRET;

// What the browser tests use to act as the app's client at an IdP (a client assertion, a
// DPoP proof) and to read the DPoP key the app stores with a session.
pub use oidc_bff::jose::SigningKey;
pub use oidc_bff::oidc::dpop::DpopKey;
pub use oidc_bff::oidc::flow::random_token;
