//! A development identity provider: a zero-setup OpenID Provider for local development and
//! tests, in the spirit of a mock OAuth 2.0 server, but speaking the real protocol.
//!
//! It serves discovery, JWKS, an authorization endpoint (`response_type` `id_token`, `code` or
//! `code id_token`, always `response_mode=form_post`, PKCE S256 for codes) with a sign-in page
//! for demo accounts (alice, bob and carol, passwords as their names), a token endpoint (codes
//! and refresh tokens with rotation, `client_secret_basic` or `client_secret_post`), UserInfo,
//! revocation (RFC 7009), RP-initiated logout and back-channel logout (a logout token posted to
//! each client's `backchannel_logout_uri` when a session ends). `acr_values=mfa` adds a second
//! step (a demo one-time code) and ID tokens carry `acr` and `amr`; a small demo API at
//! `/demo-api/` accepts its access tokens and asks for that second factor with an RFC 9470
//! step-up challenge at `/demo-api/sensitive`. Its RSA signing key is generated at each
//! start and never stored; sessions, codes and tokens live in memory, bounded.
//!
//! For FAPI 2.0 clients:
//!
//! - pushed authorization requests (RFC 9126) at `/par`, then `/authorize?client_id=…&
//!   request_uri=…`; [`Options::require_par`] (`--require-par`) refuses requests that were not
//!   pushed;
//! - DPoP (RFC 9449): a `DPoP` proof at the token endpoint makes `token_type` `DPoP` and binds
//!   the tokens to its key, which UserInfo and the demo API then require; a proof at `/par` or
//!   `dpop_jkt` binds the code too; [`Options::dpop_nonce`] (`--dpop-nonce`) requires server
//!   nonces;
//! - `private_key_jwt` (RFC 7523 §2.2) for clients registered with their keys
//!   ([`Client::for_app_with_jwks_uri`], [`ClientSecret::private_key_jwt`], or `jwks_uri=` in
//!   `--client`), at the token, revocation and PAR endpoints.
//!
//! oidc-bff starts it in debug builds when no issuer is configured; `cargo run -p dev-idp`
//! runs it alone (see `--help`), and [`start`] runs it inside another program's tests:
//!
//! ```no_run
//! # async fn example() -> Result<(), dev_idp::StartError> {
//! let idp = dev_idp::start(dev_idp::Options {
//!     port: 4100,
//!     clients: vec![dev_idp::Client::for_app("my-app", "my-secret", "http://localhost:8000")],
//!     ..dev_idp::Options::default()
//! })
//! .await?;
//! println!("issuer: {}", idp.issuer());
//! idp.shutdown();
//! # Ok(())
//! # }
//! ```
//!
//! Not for production: every page says so, and anyone who can reach it can sign in as anyone.

// Request paths must not panic: no unwrap/expect outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

mod accounts;
mod authorize;
mod backchannel_logout;
mod client_assertion;
mod client_auth;
mod client_jws;
mod clients;
mod demo_api;
mod discovery;
mod dpop;
mod grants;
mod http;
mod logout;
mod oauth;
mod pages;
mod par;
mod params;
mod pkce;
mod pushed_requests;
mod random;
mod replay;
mod resource;
mod routes;
mod rsa_key;
mod sessions;
mod signing;
mod state;
#[cfg(feature = "testing")]
#[allow(clippy::expect_used, clippy::unwrap_used)]
pub mod testing;
mod token_endpoints;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use rocket::fairing::AdHoc;

pub use clients::{Client, ClientKeys, ClientSecret};
pub use dpop::DEFAULT_SKEW as DEFAULT_DPOP_SKEW;
pub use grants::{Lifetimes, DEFAULT_ACCESS_TOKEN_TTL};
pub use pages::BANNER;

/// Where it listens unless told otherwise.
pub const DEFAULT_PORT: u16 = 4000;
/// The client registered when none is given: oidc-bff's development client id.
pub const DEFAULT_CLIENT_ID: &str = "oidc-bff-dev";
/// Its secret. Public on purpose: it protects nothing but a development IdP on the loopback
/// address.
pub const DEFAULT_CLIENT_SECRET: &str = "oidc-bff-dev-secret";
/// Its application's base URL (`/callback` and `/` are its redirect URIs).
pub const DEFAULT_CLIENT_BASE_URL: &str = "http://localhost:3000";

/// What to start.
#[derive(Debug, Clone)]
pub struct Options {
    /// The address to listen on (default `127.0.0.1`).
    pub address: IpAddr,
    /// The port to listen on (default [`DEFAULT_PORT`]).
    pub port: u16,
    /// The issuer, exactly as in its tokens and discovery; default `http://<address>:<port>`.
    /// Set it when the IdP is reached through another name.
    pub issuer: Option<String>,
    /// The registered clients; none means the default one ([`DEFAULT_CLIENT_ID`]).
    pub clients: Vec<Client>,
    /// How long codes and tokens stay valid.
    pub lifetimes: Lifetimes,
    /// Refuse authorization requests that were not pushed to `/par` first (RFC 9126 §5), and
    /// say so in discovery (`require_pushed_authorization_requests`).
    pub require_par: bool,
    /// Require server-provided nonces in DPoP proofs (RFC 9449 §8, §9).
    pub dpop_nonce: bool,
    /// How far a DPoP proof's `iat` may be from the IdP's clock, either way (default
    /// [`DEFAULT_DPOP_SKEW`]).
    pub dpop_skew: Duration,
    /// How long a pushed request's `request_uri` stays usable (default
    /// [`DEFAULT_REQUEST_URI_LIFETIME`]).
    pub request_uri_lifetime: Duration,
}

/// How long a pushed request's `request_uri` stays usable, unless configured otherwise.
pub const DEFAULT_REQUEST_URI_LIFETIME: Duration = pushed_requests::LIFETIME;

impl Default for Options {
    fn default() -> Self {
        Self {
            address: Ipv4Addr::LOCALHOST.into(),
            port: DEFAULT_PORT,
            issuer: None,
            clients: Vec::new(),
            lifetimes: Lifetimes::default(),
            require_par: false,
            dpop_nonce: false,
            dpop_skew: DEFAULT_DPOP_SKEW,
            request_uri_lifetime: DEFAULT_REQUEST_URI_LIFETIME,
        }
    }
}

impl Options {
    /// The issuer it will have: the configured one, else `http://<address>:<port>`.
    pub fn issuer(&self) -> String {
        match &self.issuer {
            Some(issuer) => issuer.clone(),
            None => match self.address {
                IpAddr::V4(v4) => format!("http://{v4}:{}", self.port),
                IpAddr::V6(v6) => format!("http://[{v6}]:{}", self.port),
            },
        }
    }
}

/// Why it could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The signing key could not be generated.
    #[error("could not generate the signing key: {0}")]
    Key(String),
    /// The issuer or a client is not usable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The server did not start listening (port taken, address not local, ...).
    #[error("could not listen on {address}:{port}: {reason}")]
    Listen {
        /// The address it was to listen on.
        address: IpAddr,
        /// The port it was to listen on.
        port: u16,
        /// What went wrong.
        reason: String,
    },
}

/// A running development IdP. Dropping it leaves it running; [`Running::shutdown`] stops it.
pub struct Running {
    issuer: String,
    shutdown: rocket::Shutdown,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

impl Running {
    /// Its issuer, exactly as in its tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Asks it to stop (in-flight requests finish first).
    pub fn shutdown(&self) {
        self.shutdown.clone().notify();
    }

    /// A handle that stops it, for a caller that keeps the handle apart from `Running`.
    pub fn shutdown_handle(&self) -> rocket::Shutdown {
        self.shutdown.clone()
    }

    /// Waits until it has stopped, with the reason when it stopped on an error.
    pub async fn stopped(self) -> Result<(), String> {
        self.task.await.map_err(|e| e.to_string())?
    }
}

/// Generates the signing key, starts the IdP and returns once it listens.
pub async fn start(options: Options) -> Result<Running, StartError> {
    let issuer = options.issuer();
    let clients = if options.clients.is_empty() {
        vec![Client::for_app(
            DEFAULT_CLIENT_ID,
            DEFAULT_CLIENT_SECRET,
            DEFAULT_CLIENT_BASE_URL,
        )]
    } else {
        options.clients
    };
    let key = tokio::task::spawn_blocking(signing::SigningKey::generate)
        .await
        .map_err(|e| StartError::Key(e.to_string()))?
        .map_err(|e| StartError::Key(e.to_string()))?;
    let clients = clients::Clients::new(clients);
    let origins = clients.redirect_origins();
    let features = state::Features {
        require_par: options.require_par,
        dpop_nonce: options.dpop_nonce,
        dpop_skew: options.dpop_skew,
        request_uri_lifetime: options.request_uri_lifetime,
    };
    let state = state::IdpState::new(&issuer, clients, key, options.lifetimes, features)
        .map_err(StartError::Config)?;
    let config = rocket::Config {
        address: options.address,
        port: options.port,
        // Whoever started it says what it is, in one line; Rocket's banner would say it again.
        log_level: rocket::config::LogLevel::Off,
        // It stops when told to (`Running::shutdown`), not on the process's signals: an app
        // that starts it handles those itself.
        shutdown: rocket::config::Shutdown {
            ctrlc: false,
            #[cfg(unix)]
            signals: Default::default(),
            ..Default::default()
        },
        ..rocket::Config::debug_default()
    };
    let listen_error = |reason: String| StartError::Listen {
        address: options.address,
        port: options.port,
        reason,
    };
    let (ready, is_ready) = tokio::sync::oneshot::channel::<()>();
    let rocket = rocket::custom(config)
        .manage(Arc::new(state))
        .attach(http::SecurityHeaders::new(&origins))
        .attach(http::DpopNonces)
        .attach(AdHoc::on_liftoff("development IdP ready", move |_| {
            Box::pin(async move {
                let _ = ready.send(());
            })
        }))
        .mount("/", routes::routes())
        .mount("/", token_endpoints::routes())
        .mount("/", par::routes())
        .mount(demo_api::BASE_PATH, demo_api::routes())
        .register("/", routes::catchers())
        .ignite()
        .await
        .map_err(|e| listen_error(e.to_string()))?;
    let shutdown = rocket.shutdown();
    let mut task =
        tokio::spawn(async move { rocket.launch().await.map(|_| ()).map_err(|e| e.to_string()) });
    let ended = tokio::select! {
        listening = is_ready => match listening {
            Ok(()) => return Ok(Running { issuer, shutdown, task }),
            Err(_) => (&mut task).await,
        },
        ended = &mut task => ended,
    };
    Err(listen_error(match ended {
        Ok(Ok(())) => "it stopped at once".to_string(),
        Ok(Err(error)) => error,
        Err(error) => error.to_string(),
    }))
}
