//! [`Bff`], the extension a Rocket app attaches: at ignition it reads its own part of the
//! figment (`[default.oidc]`), builds what its routes and guards use, mounts its routes and
//! leaves the rest of the app alone (the host's Shield, log subscriber, templates and catchers
//! stay as the host set them).

use std::sync::Arc;

use rocket::fairing::{self, AdHoc, Fairing, Info, Kind};
use rocket::figment::Figment;
use rocket::{Build, Rocket};

use crate::config::EmbeddedStore;
use crate::config::{self, ConfigError, Settings};
use crate::crypto::CookieKeys;
use crate::gateway::{self, Gateway};
use crate::hooks::{LoginHook, LoginHooks};
use crate::oidc::provider::Provider;
use crate::oidc::providers::IdentityProviders;
use crate::routes::auth::rate_limit::LoginRateLimit;
use crate::routes::{self, views::Views};
use crate::security_headers::SecurityHeaders;
use crate::session::{SessionPolicy, Sessions};
use crate::store::{FileStore, FileStoreError, MemoryStore, MeteredStore, RedisStore, Store};
use crate::telemetry::RequestLog;
use crate::token_keeper::TokenKeeper;

/// Why the BFF cannot start: one line that says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A setting is missing or unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No HTTP client for the IdP and the APIs (the machine's TLS set-up).
    #[error("the HTTP client could not be built ({0}): check the TLS set-up of this machine")]
    HttpClient(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store file cannot be used.
    #[error(transparent)]
    Store(FileStoreError),
    /// The embedded page templates do not parse (a defect of this build).
    #[error("the embedded page templates do not parse: {0}")]
    Templates(#[source] rocket_dyn_templates::tera::Error),
}

/// The BFF: `/login`, `/callback`, `/logout`, `/backchannel-logout`, `/healthz`, `/readyz`,
/// `/.well-known/jwks.json` and the gateway `/api/<name>/…`, the managed state its guards
/// ([`User`](crate::User), [`ApiUser`](crate::ApiUser)) read, the request log, the security
/// headers and the catchers that turn a guard's 401 into JSON or a redirect to log in.
///
/// Configured from the app's figment (`[default.oidc]` in `Rocket.toml`;
/// [`figment`](crate::figment) adds the familiar environment names such as
/// `ISSUER_BASE_URL`). In a debug build with no issuer configured, it also starts the
/// development identity provider. The store is the one given with [`Bff::with_store`], else
/// Redis when `REDIS_URL` is set, else the embedded store file (`STORE_PATH`), or process
/// memory with `STORE=memory`.
///
/// Attach it as a fairing (`rocket::build().attach(Bff::fairing())`): a configuration error
/// fails ignition and is logged as one `error` event; or call [`Bff::attach`] to get the
/// error as a value.
#[derive(Clone)]
pub struct Bff {
    store: Option<Arc<dyn Store>>,
    security_headers: bool,
    catchers: bool,
    login_hook: LoginHooks,
}

impl Default for Bff {
    fn default() -> Self {
        Self::fairing()
    }
}

impl Bff {
    /// The BFF with the store the settings choose, its security headers and its catchers.
    pub fn fairing() -> Self {
        Self {
            store: None,
            security_headers: true,
            catchers: true,
            login_hook: LoginHooks::default(),
        }
    }

    /// This store for consumed states, ended sessions and tokens, whatever the settings say.
    pub fn with_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The host's say on each validated login: refuse it, or give the session values of its
    /// own ([`LoginHook`]).
    pub fn on_login(mut self, hook: impl LoginHook) -> Self {
        self.login_hook = LoginHooks(Some(Arc::new(hook)));
        self
    }

    /// Leaves the response headers to the host: no Content-Security-Policy, `nosniff`,
    /// `Referrer-Policy`, `X-Frame-Options`, HSTS or `Cache-Control: no-store` from the BFF.
    /// The host then owns those protections.
    pub fn without_security_headers(mut self) -> Self {
        self.security_headers = false;
        self
    }

    /// Registers no catchers: the host's own catchers answer every error status. Its 401
    /// catcher must then send scripts JSON and navigations to `/login`.
    pub fn without_catchers(mut self) -> Self {
        self.catchers = false;
        self
    }

    /// Reads and checks the settings from `app`'s figment and attaches the BFF to it. The
    /// error says which setting is wrong and how to fix it.
    pub fn attach(self, app: Rocket<Build>) -> Result<Rocket<Build>, StartupError> {
        let parts = self.prepare(app.figment())?;
        Ok(self.install(app, parts))
    }

    /// Everything that can fail, done before the app is touched.
    fn prepare(&self, figment: &Figment) -> Result<Parts, StartupError> {
        let figment = figment.clone();
        // No issuer configured in a debug build → the development IdP.
        #[cfg(all(feature = "dev-idp", debug_assertions))]
        let (figment, dev_idp) = crate::dev_idp::configure(figment, true)?;
        let (figment, settings) = config::load(figment)?;
        check_metrics_port(&figment, &settings)?;
        let store = self.store(&settings)?;
        let provider = Provider::new(
            &settings.issuer,
            &settings.client_id,
            settings.clock_skew,
            settings.http_connect_timeout,
            settings.http_timeout,
        )
        .map_err(|e| StartupError::HttpClient(Box::new(e)))?
        .with_client_secret(settings.client_secret.clone())
        .with_fapi(&settings.fapi);
        let provider = Arc::new(provider);
        let providers = IdentityProviders::new(&settings, provider.clone())
            .map_err(|e| StartupError::HttpClient(Box::new(e)))?;
        let gateway = Gateway::new(&settings).map_err(|e| StartupError::HttpClient(Box::new(e)))?;
        let views = Views::new().map_err(StartupError::Templates)?;
        Ok(Parts {
            figment,
            settings,
            store,
            provider,
            providers,
            gateway,
            views,
            #[cfg(all(feature = "dev-idp", debug_assertions))]
            dev_idp,
        })
    }

    /// Mounts the routes and hands the app the state they use.
    fn install(&self, app: Rocket<Build>, parts: Parts) -> Rocket<Build> {
        let Parts {
            figment,
            settings,
            store,
            provider,
            providers,
            gateway,
            views,
            #[cfg(all(feature = "dev-idp", debug_assertions))]
            dev_idp,
        } = parts;
        let sessions = Sessions {
            policy: SessionPolicy {
                idle_timeout: settings.session_idle_timeout,
                absolute_lifetime: settings.session_absolute_lifetime,
                secure_cookies: settings.cookies_secure(),
                cookie_keys: CookieKeys::new(
                    &settings.sealer,
                    settings.previous_cookie_keys.clone(),
                ),
                same_site: settings.session_same_site,
                max_sessions_per_user: settings.max_sessions_per_user,
            },
            store: store.clone(),
        };
        // A refresh elsewhere is waited for as long as the IdP may take to answer it, and a
        // little more.
        let keeper = TokenKeeper::new(
            store.clone(),
            settings.sealer.clone(),
            providers.clone(),
            settings.refresh_margin,
            settings.http_timeout + std::time::Duration::from_secs(2),
        );
        let security_headers = SecurityHeaders::new(
            settings.base_url.scheme() == "https",
            url::Url::parse(&settings.issuer)
                .map(|u| u.origin().ascii_serialization())
                .ok()
                .as_deref(),
        );
        let metrics_address = settings.metrics_address;
        let login_rate_limit = settings.login_rate_limit;
        if settings.allow_insecure_http {
            tracing::warn!("ALLOW_INSECURE_HTTP is set: the identity provider and the APIs may be reached over plain http, in the clear; never in production");
        }
        if settings.access.allow_everyone() {
            tracing::info!("no ALLOWED_EMAIL_DOMAINS or ALLOWED_GROUPS: every account of the identity provider may log in");
        }

        let mut app = app
            .attach(RequestLog)
            .configure(figment)
            .manage(settings)
            .manage(provider.clone())
            .manage(providers)
            .manage(sessions)
            .manage(keeper)
            .manage(views)
            .manage(self.login_hook.clone())
            .manage(LoginRateLimit::new(login_rate_limit))
            .manage(routes::health::Readiness::default())
            .manage(Arc::new(gateway))
            .attach(on_liftoff(store, provider))
            .mount("/", routes::auth::routes())
            .mount("/", routes::health::routes())
            .mount("/", routes::jwks::routes())
            .mount("/", routes::session_endpoint::routes())
            .mount("/", gateway::routes());
        if self.security_headers {
            app = app.attach(security_headers);
        }
        if self.catchers {
            app = app.register("/", routes::errors::catchers());
        }
        if let Some(address) = metrics_address {
            app = app.attach(crate::metrics::server::listener(address));
        }
        // Starts the development IdP while the app ignites, when `configure` chose it.
        #[cfg(all(feature = "dev-idp", debug_assertions))]
        let app = crate::dev_idp::attach(app, dev_idp);
        app
    }

    fn store(&self, settings: &Settings) -> Result<Arc<dyn Store>, StartupError> {
        let store: Arc<dyn Store> = match (&self.store, &settings.redis) {
            (Some(store), _) => store.clone(),
            (None, Some(redis)) => {
                tracing::info!("store: Redis (shared by every instance)");
                Arc::new(
                    RedisStore::new(redis)?
                        .with_ended_sessions_capacity(settings.ended_sessions_capacity),
                )
            }
            (None, None) => match &settings.store {
                EmbeddedStore::File(path) => Arc::new(
                    FileStore::open(path, settings.ended_sessions_capacity)
                        .map_err(StartupError::Store)?,
                ),
                EmbeddedStore::Memory => {
                    tracing::warn!("store: process memory (STORE=memory): every session and ended session is forgotten at restart");
                    Arc::new(
                        MemoryStore::default()
                            .with_ended_sessions_capacity(settings.ended_sessions_capacity),
                    )
                }
            },
        };
        // With metrics on, every store operation is counted and timed.
        Ok(match settings.metrics_address {
            Some(_) => Arc::new(MeteredStore::new(store)),
            None => store,
        })
    }
}

#[rocket::async_trait]
impl Fairing for Bff {
    fn info(&self) -> Info {
        Info {
            name: "oidc-bff",
            kind: Kind::Ignite | Kind::Singleton,
        }
    }

    async fn on_ignite(&self, app: Rocket<Build>) -> fairing::Result {
        match self.prepare(app.figment()) {
            Ok(parts) => Ok(self.install(app, parts)),
            Err(error) => {
                tracing::error!("oidc-bff: {error}");
                Err(app)
            }
        }
    }
}

/// What [`Bff::prepare`] built, for [`Bff::install`].
struct Parts {
    figment: Figment,
    settings: Settings,
    store: Arc<dyn Store>,
    provider: Arc<Provider>,
    providers: IdentityProviders,
    gateway: Gateway,
    views: Views,
    #[cfg(all(feature = "dev-idp", debug_assertions))]
    dev_idp: Option<crate::dev_idp::DevIdp>,
}

/// Metrics on the app's own port would publish them to everyone.
fn check_metrics_port(figment: &Figment, settings: &Settings) -> Result<(), ConfigError> {
    let Some(address) = settings.metrics_address else {
        return Ok(());
    };
    let public_port = figment.extract_inner::<u16>("port").unwrap_or(8000);
    if address.port() == public_port {
        return Err(ConfigError::Invalid {
            name: "METRICS_ADDRESS (oidc.metrics_address)",
            detail: format!("{address} uses the app's own port"),
            hint:
                "give the metrics their own port, e.g. 127.0.0.1:9090, reachable only by Prometheus",
        });
    }
    Ok(())
}

/// Once the app serves: a shared store follows the other instances' revocations, and the
/// IdP is discovered in the background so the first login is fast.
fn on_liftoff(store: Arc<dyn Store>, provider: Arc<Provider>) -> AdHoc {
    AdHoc::on_liftoff("oidc-bff liftoff", move |rocket| {
        let config = rocket.config();
        tracing::info!(
            "oidc-bff listening on http://{}:{}",
            config.address,
            config.port
        );
        Box::pin(async move {
            store.start();
            // A failure here only means /login will retry (a 503 while the IdP is down).
            tokio::spawn(async move {
                if let Err(error) = provider.snapshot().await {
                    tracing::warn!(%error, "identity provider not reachable yet");
                }
            });
        })
    })
}
