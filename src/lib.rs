//! oidc-bff: an OpenID Connect backend-for-frontend for [Rocket](https://rocket.rs) apps.
//!
//! The browser logs in at the identity provider with `response_mode=form_post`; the BFF
//! validates the ID token completely and keeps the session in an encrypted, `HttpOnly` cookie
//! and every token on the server. The page's scripts call same-origin APIs with that cookie.
//!
//! The app binary is [`build`]; a host Rocket app attaches the same BFF with [`Bff`] and guards
//! its own routes with [`User`] (pages: a redirect to log in) or [`ApiUser`] (APIs: 401 JSON
//! for scripts, a redirect for navigations):
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
//!     let app = rocket::custom(oidc_bff::figment()).mount("/api", routes![orders]);
//!     match Bff::new().attach(app) {
//!         Ok(app) => app,
//!         Err(error) => panic!("oidc-bff: {error}"),
//!     }
//! }
//! ```

// Request paths must not panic: no unwrap/expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

pub mod check;
pub mod clock;
pub mod config;
pub mod csrf;
pub mod gateway;
pub mod headers;
pub mod jose;
#[cfg(all(feature = "dev-idp", debug_assertions))]
pub mod local_idp;
pub mod metrics;
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

use oidc::provider::Provider;
use session::{SessionPolicy, Sessions};
use tokens::TokenKeeper;

pub use config::{figment, ConfigError, Settings};
pub use session::{ApiUser, Session, User};
pub use store::{MemoryStore, RedisStore, Store};

/// The BFF to attach to a Rocket app: `/login`, `/callback`, `/logout`, `/healthz`, the
/// error pages and catchers (401 → JSON or a redirect to log in), the security headers, the
/// Tera templates fairing, and the managed state its guards and routes use.
///
/// Configured from the app's figment (`[default.oidc]` in `Rocket.toml`; [`figment`] adds
/// the familiar environment names such as `ISSUER_BASE_URL`). In a debug build with no issuer
/// configured, it also starts the development identity provider. The store is the one given
/// with [`Bff::with_store`], else Redis when `REDIS_URL` is set, else the embedded memory
/// store.
pub struct Bff {
    store: Option<Arc<dyn Store>>,
}

impl Default for Bff {
    fn default() -> Self {
        Self::new()
    }
}

impl Bff {
    /// The BFF with the store the settings choose: Redis when `REDIS_URL` is set, else the
    /// embedded in-memory store (one instance).
    pub fn new() -> Self {
        Self { store: None }
    }

    /// This store for consumed states, ended sessions and tokens, whatever the settings say.
    pub fn with_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Reads and checks the settings from `app`'s figment and attaches the BFF to it. The
    /// error says which setting is wrong and how to fix it.
    pub fn attach(self, app: Rocket<Build>) -> Result<Rocket<Build>, ConfigError> {
        telemetry::init()?;
        let figment = app.figment().clone();
        // dev-idp (issue 3): no issuer configured in a debug build → the development IdP.
        #[cfg(all(feature = "dev-idp", debug_assertions))]
        let (figment, dev_idp) = local_idp::configure(figment, true)?;
        let (figment, settings) = config::load(figment)?;
        let store: Arc<dyn Store> = match (self.store, &settings.redis) {
            (Some(store), _) => store,
            (None, Some(redis)) => Arc::new(RedisStore::new(redis)?),
            (None, None) => Arc::new(MemoryStore::default()),
        };
        // With metrics on, every store operation is counted and timed.
        let store: Arc<dyn Store> = match settings.metrics_address {
            Some(_) => Arc::new(store::MeteredStore::new(store)),
            None => store,
        };
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
        .with_client_secret(settings.client_secret.clone())
        .with_fapi(&settings.fapi);
        let sessions = Sessions {
            policy: SessionPolicy {
                idle_timeout: settings.session_idle_timeout,
                absolute_lifetime: settings.session_absolute_lifetime,
                secure_cookies: settings.cookies_secure(),
                previous_keys: settings.previous_cookie_keys.clone(),
                same_site: settings.session_same_site,
            },
            store: store.clone(),
        };
        let metrics_address = settings.metrics_address;
        if let Some(address) = metrics_address {
            let public_port = figment.extract_inner::<u16>("port").unwrap_or(8000);
            if address.port() == public_port {
                return Err(ConfigError::Invalid {
                    name: "METRICS_ADDRESS (oidc.metrics_address)",
                    detail: format!("{address} uses the app's own port"),
                    hint: "give the metrics their own port, e.g. 127.0.0.1:9090, reachable only by Prometheus",
                });
            }
        }
        let https = settings.base_url.scheme() == "https";
        let issuer_origin = url::Url::parse(&settings.issuer)
            .map(|u| u.origin().ascii_serialization())
            .ok();
        let gateway = gateway::Gateway::new(&settings).map_err(|e| ConfigError::Invalid {
            name: "HTTP client",
            detail: e.to_string(),
            hint: "check the TLS set-up of this machine",
        })?;
        let provider = Arc::new(provider);
        let warm_up = provider.clone();
        // A refresh elsewhere is waited for as long as the IdP may take to answer it, and a
        // little more.
        let started = store.clone();
        let keeper = TokenKeeper::new(
            store,
            settings.sealer.clone(),
            provider.clone(),
            settings.refresh_margin,
            settings.http_timeout + std::time::Duration::from_secs(2),
        );

        let app = app
            .attach(telemetry::RequestLog)
            .configure(figment)
            .manage(settings)
            .manage(provider)
            .manage(sessions)
            .manage(keeper)
            .manage(routes::health::Readiness::default())
            .manage(Arc::new(gateway))
            .attach(Template::fairing())
            // An empty Shield replaces Rocket's default one, which would set `nosniff` and
            // `X-Frame-Options` a second time on every response: `SecurityHeaders` sets them all.
            .attach(rocket::shield::Shield::new())
            .attach(headers::SecurityHeaders::new(
                https,
                issuer_origin.as_deref(),
            ))
            // A shared store follows the other instances' revocations from now on.
            .attach(AdHoc::on_liftoff("session store", move |_| {
                Box::pin(async move { started.start() })
            }))
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
                        // Discover in the background so the first login is fast; a failure
                        // here only means /login will retry (a 503 while the IdP is down).
                        tokio::spawn(async move {
                            if let Err(error) = warm_up.snapshot().await {
                                tracing::warn!(%error, "identity provider not reachable yet");
                            }
                        });
                    })
                },
            ))
            .mount("/", routes::auth::routes())
            .mount("/", routes::health::routes())
            .mount("/", routes::jwks::routes())
            .mount("/", gateway::routes())
            .register("/", routes::errors::catchers());
        let app = match metrics_address {
            Some(address) => app.attach(metrics::server::listener(address)),
            None => app,
        };
        // dev-idp (issue 3): starts it while the app ignites, when `configure` chose it.
        #[cfg(all(feature = "dev-idp", debug_assertions))]
        let app = local_idp::attach(app, dev_idp);
        Ok(app)
    }
}

/// The app: the BFF plus its start page, profile page, `/api` (`hello`, `upstream`) and the
/// page's static files, configured from `Rocket.toml`, the environment and `.env`.
pub fn build() -> Result<Rocket<Build>, ConfigError> {
    build_from(config::figment())
}

/// The app configured from the given figment (tests pass their own), with the store its
/// settings choose (Redis when `oidc.redis_url` is set, else memory).
pub fn build_from(figment: Figment) -> Result<Rocket<Build>, ConfigError> {
    Bff::new().attach(app_routes(figment))
}

/// The app with the given store for consumed states, ended sessions and tokens.
pub fn build_with_store(
    figment: Figment,
    store: Arc<dyn Store>,
) -> Result<Rocket<Build>, ConfigError> {
    Bff::new().with_store(store).attach(app_routes(figment))
}

/// The app's own pages, API and static files, before the BFF is attached.
fn app_routes(figment: Figment) -> Rocket<Build> {
    rocket::custom(figment)
        .mount("/", routes::pages::routes())
        .mount("/api", routes::api::routes())
        .mount("/static", FileServer::from("public"))
}
