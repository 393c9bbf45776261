//! oidc-bff: an OpenID Connect backend-for-frontend for [Rocket](https://rocket.rs) apps.
//!
//! The browser logs in at the identity provider with `response_mode=form_post`; the BFF
//! validates the ID token completely and keeps the session in an encrypted, `HttpOnly` cookie
//! and every token on the server. The page's scripts call same-origin APIs with that cookie.
//!
//! A host Rocket app attaches the BFF as a fairing, [`Bff`], and guards its own routes with
//! [`User`] (pages: a redirect to log in) or [`ApiUser`] (APIs: 401 JSON for scripts, a
//! redirect for navigations). The host keeps its own log subscriber, Shield, templates and
//! catchers; the BFF brings its own pages.
//!
//! ```no_run
//! use oidc_bff::{ApiUser, Bff};
//! use rocket::{get, routes, serde::json::Json};
//!
//! #[get("/orders")]
//! fn orders(user: ApiUser<'_>) -> Json<Vec<String>> {
//!     Json(vec![format!("order of {}", user.0.sub)])
//! }
//!
//! #[rocket::launch]
//! fn rocket() -> _ {
//!     rocket::custom(oidc_bff::figment())
//!         .attach(Bff::fairing())
//!         .mount("/api", routes![orders])
//! }
//! ```
//!
//! The app binary of this package is the same BFF with a start page, a profile page and a
//! demo API ([`build`]).

// Request paths must not panic: no unwrap/expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

mod access;
mod bff;
mod check;
mod client_ip;
mod clock;
mod config;
mod crypto;
mod csrf;
#[cfg(all(feature = "dev-idp", debug_assertions))]
mod dev_idp;
mod gateway;
mod header_lookup;
mod hooks;
mod jose;
mod metrics;
mod oidc;
mod routes;
mod security_headers;
mod session;
mod store;
mod telemetry;
mod token_keeper;

#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use rocket::figment::Figment;
use rocket::fs::FileServer;
use rocket::{Build, Rocket};
use rocket_dyn_templates::Template;

pub use bff::{Bff, StartupError};
pub use check::{run as check, Check, Report};
pub use config::{figment, ConfigError, Settings};
pub use hooks::{
    in_group, ClaimRule, LoginDecision, LoginHook, LoginInfo, Require, MAX_HOST_VALUES_BYTES,
};
pub use session::{ApiUser, Session, User};
pub use store::{
    Consumption, FileStore, FileStoreError, MemoryStore, RedisStore, Revocation, Revoked,
    SessionFacts, Store, StoreError,
};
pub use telemetry::{request_id, RequestId};

/// The app: the BFF plus its start page, profile page, `/api` (`hello`, `upstream`) and the
/// page's static files, configured from `Rocket.toml`, the environment and `.env`.
pub fn build() -> Result<Rocket<Build>, StartupError> {
    build_from(config::figment())
}

/// The app configured from the given figment (tests pass their own), with the store its
/// settings choose (Redis when `oidc.redis_url` is set, else the store file or memory).
pub fn build_from(figment: Figment) -> Result<Rocket<Build>, StartupError> {
    Bff::fairing().attach(app_routes(figment))
}

/// The app with the given store for consumed states, ended sessions and tokens.
pub fn build_with_store(
    figment: Figment,
    store: Arc<dyn Store>,
) -> Result<Rocket<Build>, StartupError> {
    Bff::fairing().with_store(store).attach(app_routes(figment))
}

/// The app's own pages, API and static files, before the BFF is attached.
fn app_routes(figment: Figment) -> Rocket<Build> {
    rocket::custom(figment)
        .mount("/", routes::pages::routes())
        .manage(routes::start_page::StartPage::default())
        .mount("/api", routes::api::routes())
        .mount("/static", FileServer::from("public"))
        .attach(Template::fairing())
        // The BFF sets `nosniff` and `X-Frame-Options` itself: Rocket's default Shield would
        // only set them first, for the BFF to replace. An empty Shield replaces it.
        .attach(rocket::shield::Shield::new())
}
