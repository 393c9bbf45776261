//! Typed settings, read once at start-up from `Rocket.toml`, `ROCKET_*` variables and the
//! familiar environment names (`ISSUER_BASE_URL`, `CLIENT_ID`, ...), then checked so that a
//! mistake stops the app with one line that names the setting. The bottom layer: of the app's
//! modules it uses only `crypto` (the keys `SECRET` gives) and `jose` (to load the client's
//! private key).

mod api_token;
mod choices;
mod env;
mod error;
mod fapi;
mod fields;
mod providers;
mod redis;
mod remote_apis;
mod secret;
mod settings;
mod store;
mod written_as;

use rocket::figment::Figment;

pub use api_token::{Audience, TokenPolicy};
pub use choices::{ResponseMode, ResponseType};
pub use env::figment;
pub use error::ConfigError;
pub use fapi::{ClientAuthMethod, Fapi, ParMode};
pub use providers::{ProviderSettings, DEFAULT_PROVIDER};
pub use redis::RedisSettings;
pub use remote_apis::{login_request, RemoteApi};
pub use settings::Settings;
pub use store::EmbeddedStore;

/// Reads and checks the `oidc` settings and turns `oidc.secret` into Rocket's `secret_key`
/// (and, with `oidc.previous_secrets`, into the keys in [`Settings::previous_cookie_keys`] and
/// [`Settings::sealer`]).
pub fn load(figment: Figment) -> Result<(Figment, Settings), ConfigError> {
    let fields = fields::read(&figment)?;
    // The secrets are checked with the other settings but reported last, so a release build
    // without issuer names the issuer first.
    let (figment, keys) = match secret::apply_secret(figment.clone()) {
        Ok((figment, keys)) => (figment, Ok(keys)),
        Err(error) => (figment, Err(error)),
    };
    let redis = redis_settings(&figment);
    let settings = settings::check(fields, redis, keys)?;
    Ok((figment, settings))
}

/// Reads and checks the shared store's settings alone (`oidc.redis_url`, `REDIS_URL`, …):
/// `None` when no URL is set.
pub fn redis_settings(figment: &Figment) -> Result<Option<RedisSettings>, ConfigError> {
    redis::read(figment)
}
