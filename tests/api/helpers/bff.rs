//! Every item of the `oidc_bff` crate that the tests use, in one place: when a module of the
//! app is renamed or made private, this file is the one to change. The API tests reach it as
//! `helpers::bff`; the browser tests include this file as their `bff` module. What is not the
//! library's API comes from `oidc_bff::testing` (the `testing` feature, which the tests enable).
#![allow(unused_imports)]

// The public API: build the app, its stores.
pub use oidc_bff::{
    build_with_store, Consumption, FileStore, MemoryStore, RedisStore, Revocation, SessionFacts,
    Store, StoreError,
};

#[allow(dead_code)] // the browser tests pass their store
/// The app from `figment`, with the memory store unless the figment names a store: tests run
/// side by side, and the default store file is one per working directory.
pub fn build_from(
    figment: rocket::figment::Figment,
) -> Result<rocket::Rocket<rocket::Build>, oidc_bff::StartupError> {
    let named =
        figment.find_value("oidc.store").is_ok() || figment.find_value("oidc.store_path").is_ok();
    match named {
        true => oidc_bff::build_from(figment),
        false => oidc_bff::build_from(figment.merge(("oidc.store", "memory"))),
    }
}

// Settings as the app reads them: the whole set (`load`), Redis's part, the sealer for data
// at rest that the secrets give.
pub use oidc_bff::testing::config::{load as load_settings, redis_settings, RedisSettings};
pub use oidc_bff::testing::crypto::{random_token, Sealer};

// The store's name for a value (a `sub`, a session id): its digest.
pub use oidc_bff::testing::store::digest;

// The app's clock (whole seconds), to compare with what it stores.
pub use oidc_bff::testing::clock::now as app_now;

// The development IdP the app starts when no issuer is configured: its client's secret.
pub use oidc_bff::testing::dev_idp::DEFAULT_CLIENT_SECRET;

// What the browser tests use to act as the app's client at an IdP (a client assertion, a
// DPoP proof) and to read the DPoP key the app stores with a session.
pub use oidc_bff::testing::jose::SigningKey;
pub use oidc_bff::testing::oidc::dpop::DpopKey;
