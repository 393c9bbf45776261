//! The development identity provider (the `dev-idp` crate) as `cargo run` uses it: with no
//! issuer configured, a debug build starts it on `http://127.0.0.1:4000` (`DEV_IDP_PORT` /
//! `oidc.dev_idp_port` to change it) and points the app at it, with client id `oidc-bff-dev`
//! and its development secret unless `CLIENT_ID` / `CLIENT_SECRET` are set.
//!
//! The IdP is on `127.0.0.1` and the app on `localhost` on purpose: browsers treat them as two
//! sites, so its POST to `/callback` is cross-site, as with a real IdP.
//!
//! Only in debug builds with the Cargo feature `dev-idp` (on by default): a release build
//! compiles none of this module and links none of the IdP.

use secrecy::ExposeSecret;
use std::net::Ipv4Addr;
use std::sync::Mutex;
use std::time::Duration;

use ::dev_idp::{Client, ClientKeys, ClientSecret, Lifetimes, Options, DEFAULT_ACCESS_TOKEN_TTL};
use rocket::fairing::{self, Fairing, Info, Kind};
use rocket::figment::providers::Serialized;
use rocket::figment::value::Value;
use rocket::figment::Figment;
use rocket::{Build, Orbit, Rocket};

use crate::config::{ConfigError, Settings};
use crate::oidc::client_auth::public_jwks;

pub use ::dev_idp::{DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_PORT};

/// The setting that moves the development IdP to another port.
pub const PORT_SETTING: &str = "oidc.dev_idp_port";
/// The setting that starts a second development IdP, another issuer, on this port
/// (`DEV_IDP_SECOND_PORT`), as the provider [`SECOND_PROVIDER`]: `cargo run` then shows the
/// choice of identity provider.
pub const SECOND_PORT_SETTING: &str = "oidc.dev_idp_second_port";
/// The second development IdP's provider name.
pub const SECOND_PROVIDER: &str = "dev-b";
/// The setting for the lifetime of its access tokens, in seconds (default 300); the
/// environment variable [`ACCESS_TOKEN_TTL_ENV`] takes precedence.
pub const ACCESS_TOKEN_TTL_SETTING: &str = "oidc.dev_idp_access_token_ttl";
/// The environment variable for the lifetime of its access tokens, in seconds.
pub const ACCESS_TOKEN_TTL_ENV: &str = "DEV_IDP_ACCESS_TOKEN_TTL";

/// The decision, made before the settings are read, to run the development IdP on `port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevIdp {
    port: u16,
    access_token_ttl: Duration,
    /// The port of a second one (another issuer), if asked for.
    second_port: Option<u16>,
}

impl DevIdp {
    /// The port it listens on.
    #[cfg(test)]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`: the issuer, exactly as in its tokens.
    pub fn issuer(&self) -> String {
        issuer_at(self.port)
    }

    /// Its demo API, the remote API `demo` of the gateway (`/api/demo/hello`,
    /// `/api/demo/sensitive`).
    pub fn demo_api_url(&self) -> String {
        format!("{}/demo-api", self.issuer())
    }
}

fn issuer_at(port: u16) -> String {
    format!("http://{}:{}", Ipv4Addr::LOCALHOST, port)
}

/// With no issuer configured and `debug_build`, points the figment at the development IdP
/// (issuer, and the client id and secret when none are set) and says where it will run.
/// Otherwise the figment is returned unchanged, so a missing issuer stops start-up as usual.
pub fn configure(
    figment: Figment,
    debug_build: bool,
) -> Result<(Figment, Option<DevIdp>), ConfigError> {
    if !debug_build || is_set(&figment, "oidc.issuer") || is_set(&figment, "oidc.providers") {
        return Ok((figment, None));
    }
    let port = match figment.extract_inner::<u16>(PORT_SETTING) {
        Ok(0) => None,
        Ok(port) => Some(port),
        Err(error) if error.missing() => Some(DEFAULT_PORT),
        Err(_) => None,
    }
    .ok_or_else(|| ConfigError::Invalid {
        name: "DEV_IDP_PORT (oidc.dev_idp_port)",
        detail: figment
            .find_value(PORT_SETTING)
            .ok()
            .and_then(|value| serde_json::to_string(&value).ok())
            .unwrap_or_default(),
        hint: "it must be a TCP port number from 1 to 65535",
    })?;
    let access_token_ttl = access_token_ttl(&figment, std::env::var(ACCESS_TOKEN_TTL_ENV).ok())?;
    let second_port = match figment.extract_inner::<u16>(SECOND_PORT_SETTING) {
        Ok(0) => None,
        Ok(port) => Some(port),
        Err(error) if error.missing() => None,
        Err(_) => {
            return Err(ConfigError::Invalid {
                name: "DEV_IDP_SECOND_PORT (oidc.dev_idp_second_port)",
                detail: figment
                    .find_value(SECOND_PORT_SETTING)
                    .ok()
                    .and_then(|value| serde_json::to_string(&value).ok())
                    .unwrap_or_default(),
                hint: "it must be a TCP port number from 1 to 65535 (0: none)",
            })
        }
    };
    let idp = DevIdp {
        port,
        access_token_ttl,
        second_port,
    };
    // Global: these must win over any profile, since the issuer was found missing in all.
    let mut figment = figment.merge(Serialized::global("oidc.issuer", idp.issuer()));
    if !is_set(&figment, "oidc.client_id") {
        figment = figment.merge(Serialized::global("oidc.client_id", DEFAULT_CLIENT_ID));
    }
    if !is_set(&figment, "oidc.client_secret") {
        figment = figment.merge(Serialized::global(
            "oidc.client_secret",
            DEFAULT_CLIENT_SECRET,
        ));
    }
    // Its demo API behind the gateway (`/api/demo/…`), so `cargo run` shows a remote API:
    // with the user's token when there is a session (code flow), without one otherwise.
    if !is_set(&figment, DEMO_API_SETTING) {
        figment = figment.merge(Serialized::global(
            DEMO_API_SETTING,
            serde_json::json!({ "url": idp.demo_api_url(), "token": "user-or-none" }),
        ));
    }
    if let Some(second) = second_port {
        figment = figment.merge(Serialized::global(
            &format!("oidc.providers.{SECOND_PROVIDER}"),
            serde_json::json!({
                "issuer": issuer_at(second),
                "client_id": DEFAULT_CLIENT_ID,
                "client_secret": DEFAULT_CLIENT_SECRET,
                "label": "Development IdP B",
            }),
        ));
    }
    Ok((figment, Some(idp)))
}

/// The remote API entry `configure` adds for the development IdP's demo API.
const DEMO_API_SETTING: &str = "oidc.remote_apis.demo";

/// `DEV_IDP_ACCESS_TOKEN_TTL` (from `env`), else `oidc.dev_idp_access_token_ttl`, else 300 s.
fn access_token_ttl(figment: &Figment, env: Option<String>) -> Result<Duration, ConfigError> {
    let invalid = |detail: String| ConfigError::Invalid {
        name: "DEV_IDP_ACCESS_TOKEN_TTL (oidc.dev_idp_access_token_ttl)",
        detail,
        hint: "it must be a number of seconds from 1 to 86400",
    };
    let seconds = match env.filter(|v| !v.trim().is_empty()) {
        Some(text) => text.trim().parse::<u64>().map_err(|_| invalid(text))?,
        None => match figment.extract_inner::<u64>(ACCESS_TOKEN_TTL_SETTING) {
            Ok(seconds) => seconds,
            Err(error) if error.missing() => return Ok(DEFAULT_ACCESS_TOKEN_TTL),
            Err(_) => {
                return Err(invalid(
                    figment
                        .find_value(ACCESS_TOKEN_TTL_SETTING)
                        .ok()
                        .and_then(|value| serde_json::to_string(&value).ok())
                        .unwrap_or_default(),
                ))
            }
        },
    };
    if !(1..=86_400).contains(&seconds) {
        return Err(invalid(seconds.to_string()));
    }
    Ok(Duration::from_secs(seconds))
}

/// Whether `key` holds something other than an empty string.
fn is_set(figment: &Figment, key: &str) -> bool {
    match figment.find_value(key) {
        Ok(Value::String(_, text)) => !text.trim().is_empty(),
        Ok(_) => true,
        Err(_) => false,
    }
}

/// Adds the fairing that starts the development IdP while the app ignites (also for the
/// in-process `rocket::local` clients of the tests), when `configure` decided on one.
pub fn attach(app: Rocket<Build>, idp: Option<DevIdp>) -> Rocket<Build> {
    match idp {
        Some(idp) => app.attach(Launcher {
            idp,
            running: Mutex::new(Vec::new()),
        }),
        None => app,
    }
}

struct Launcher {
    idp: DevIdp,
    running: Mutex<Vec<rocket::Shutdown>>,
}

#[rocket::async_trait]
impl Fairing for Launcher {
    fn info(&self) -> Info {
        Info {
            name: "development identity provider",
            kind: Kind::Ignite | Kind::Shutdown,
        }
    }

    async fn on_ignite(&self, app: Rocket<Build>) -> fairing::Result {
        let Some(settings) = app.state::<Settings>() else {
            tracing::error!("the development identity provider needs the app's settings");
            return Err(app);
        };
        // `configure` made sure there is a secret; the fallback only keeps this total.
        let secret = settings
            .client_secret
            .as_ref()
            .map(ExposeSecret::expose_secret);
        let secret_note = match secret {
            None | Some(DEFAULT_CLIENT_SECRET) => {
                format!("client secret {DEFAULT_CLIENT_SECRET}")
            }
            Some(_) => "the configured CLIENT_SECRET".to_string(),
        };
        // With `private_key_jwt` the app is registered with its public key, inline, as an IdP
        // would hold it after reading `/.well-known/jwks.json`.
        let client_secret = match (&settings.fapi.client_key, settings.fapi.uses_private_key()) {
            (Some(key), true) => ClientSecret::private_key_jwt(ClientKeys {
                jwks_uri: None,
                jwks: Some(public_jwks(key)),
            }),
            _ => ClientSecret::new(secret.unwrap_or(DEFAULT_CLIENT_SECRET)),
        };
        let client = Client {
            client_id: settings.client_id.clone(),
            client_secret,
            redirect_uris: vec![settings.redirect_uri()],
            post_logout_redirect_uris: vec![settings.post_logout_redirect_uri()],
            backchannel_logout_uri: Some(settings.backchannel_logout_uri()),
        };
        let options = Options {
            port: self.idp.port,
            clients: vec![client.clone()],
            lifetimes: Lifetimes::with_access_token_ttl(self.idp.access_token_ttl),
            ..Options::default()
        };
        if let Some(port) = self.idp.second_port {
            // Another issuer with the development client: the choice page shows both.
            let second = Options {
                port,
                clients: vec![Client {
                    client_id: DEFAULT_CLIENT_ID.to_string(),
                    client_secret: ClientSecret::new(DEFAULT_CLIENT_SECRET),
                    ..client.clone()
                }],
                lifetimes: Lifetimes::with_access_token_ttl(self.idp.access_token_ttl),
                ..Options::default()
            };
            match ::dev_idp::start(second).await {
                Ok(idp) => {
                    if let Ok(mut running) = self.running.lock() {
                        running.push(idp.shutdown_handle());
                    }
                    tracing::warn!(
                        "a second DEVELOPMENT identity provider at {} (provider {SECOND_PROVIDER})",
                        issuer_at(port)
                    );
                }
                Err(error) => {
                    tracing::error!(
                        "the second development identity provider could not start on {}: {error}",
                        issuer_at(port)
                    );
                    return Err(app);
                }
            }
        }
        match ::dev_idp::start(options).await {
            Ok(idp) => {
                if let Ok(mut running) = self.running.lock() {
                    running.push(idp.shutdown_handle());
                }
                tracing::warn!(
                    "no issuer configured: using the built-in DEVELOPMENT identity provider at {} \
                     (client id {}, {secret_note}, demo accounts alice/alice, bob/bob, \
                     carol/carol) - not for production; set ISSUER_BASE_URL and CLIENT_ID for a \
                     real one",
                    self.idp.issuer(),
                    client.client_id,
                );
                Ok(app)
            }
            Err(error) => {
                tracing::error!(
                    "the development identity provider could not start on {}: {error} \
                     (set DEV_IDP_PORT to another port, or ISSUER_BASE_URL to a real IdP)",
                    self.idp.issuer()
                );
                Err(app)
            }
        }
    }

    async fn on_shutdown(&self, _app: &Rocket<Orbit>) {
        let running = self.running.lock().map(|mut r| std::mem::take(&mut *r));
        for shutdown in running.unwrap_or_default() {
            shutdown.notify();
        }
    }
}

#[cfg(test)]
#[path = "dev_idp_tests.rs"]
mod tests;
