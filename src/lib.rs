//! oidc-bff: an OpenID Connect backend-for-frontend. `build` assembles the whole app.

// Request paths must not panic: no unwrap/expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod clock;
pub mod config;
#[cfg(feature = "dev-idp")]
pub mod dev_idp;
pub mod headers;
pub mod oidc;
pub mod routes;
pub mod session;
pub mod store;
pub mod telemetry;
pub mod tokens;

use std::sync::Arc;

use rocket::fairing::AdHoc;
use rocket::figment::Figment;
use rocket::fs::FileServer;
use rocket::{Build, Rocket};
use rocket_dyn_templates::Template;

use config::ConfigError;
use oidc::provider::Provider;
use session::{SessionPolicy, Sessions};
use store::{MemoryStore, Store};
use tokens::TokenKeeper;

/// The app configured from `Rocket.toml`, the environment and `.env`.
pub fn build() -> Result<Rocket<Build>, ConfigError> {
    build_from(config::figment())
}

/// The app configured from the given figment (tests pass their own).
pub fn build_from(figment: Figment) -> Result<Rocket<Build>, ConfigError> {
    build_with_store(figment, Arc::new(MemoryStore::default()))
}

/// The app with the given store for consumed states, ended sessions and tokens: the seam for
/// a shared store, and for tests that look inside.
pub fn build_with_store(
    figment: Figment,
    store: Arc<dyn Store>,
) -> Result<Rocket<Build>, ConfigError> {
    telemetry::init();
    // dev-idp (issue 3): no issuer configured in a debug build → the built-in development IdP.
    #[cfg(feature = "dev-idp")]
    let (figment, dev_idp) = dev_idp::configure(figment, cfg!(debug_assertions))?;
    let (figment, settings) = config::load(figment)?;
    let provider = Provider::new(
        &settings.issuer,
        &settings.client_id,
        settings.clock_skew,
        settings.http_connect_timeout,
        settings.http_timeout,
    )
    .map_err(|e| ConfigError::Invalid {
        name: "HTTP client",
        detail: e.to_string(),
        hint: "check the TLS set-up of this machine",
    })?
    .with_client_secret(settings.client_secret.clone());
    let sessions = Sessions {
        policy: SessionPolicy {
            idle_timeout: settings.session_idle_timeout,
            absolute_lifetime: settings.session_absolute_lifetime,
            secure_cookies: settings.cookies_secure(),
        },
        store: store.clone(),
    };
    let https = settings.base_url.scheme() == "https";
    let issuer_origin = url::Url::parse(&settings.issuer)
        .map(|u| u.origin().ascii_serialization())
        .ok();
    let provider = Arc::new(provider);
    let warm_up = provider.clone();
    let keeper = TokenKeeper::new(store, provider.clone(), settings.refresh_margin);

    let app = rocket::custom(figment)
        .manage(settings)
        .manage(provider)
        .manage(sessions)
        .manage(keeper)
        .attach(Template::fairing())
        // An empty Shield replaces Rocket's default one, which would set `nosniff` and
        // `X-Frame-Options` a second time on every response: `SecurityHeaders` sets them all.
        .attach(rocket::shield::Shield::new())
        .attach(headers::SecurityHeaders::new(
            https,
            issuer_origin.as_deref(),
        ))
        .attach(AdHoc::on_liftoff(
            "identity provider discovery",
            move |rocket| {
                let config = rocket.config();
                tracing::info!(
                    "oidc-bff listening on http://{}:{}",
                    config.address,
                    config.port
                );
                Box::pin(async move {
                    // Discover in the background so the first login is fast; a failure here only
                    // means /login will retry (and show a 503 while the IdP is unreachable).
                    tokio::spawn(async move {
                        if let Err(error) = warm_up.snapshot().await {
                            tracing::warn!(%error, "identity provider not reachable yet");
                        }
                    });
                })
            },
        ))
        .mount("/", routes::auth::routes())
        .mount("/", routes::pages::routes())
        .mount("/", routes::health::routes())
        .mount("/api", routes::api::routes())
        .mount("/static", FileServer::from("public"))
        .register("/", routes::errors::catchers());
    // dev-idp (issue 3): starts it while the app ignites, when `configure` chose it.
    #[cfg(feature = "dev-idp")]
    let app = dev_idp::attach(app, dev_idp);
    Ok(app)
}
