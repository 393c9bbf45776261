//! `oidc-bff check`: what a deploy pipeline runs before sending traffic. It loads the
//! configuration, discovers the IdP and fetches its keys, checks the URLs and cookie settings
//! against the base URL and pings the store, then prints one line per check. Exit status 0
//! when every check passed.

use std::fmt;

use rocket::figment::Figment;

use crate::config::EmbeddedStore;
use crate::config::{self, Fapi, ParMode, ProviderSettings, Settings};
use crate::oidc::discovery::ProviderMetadata;
use crate::oidc::par;
use crate::oidc::provider::Provider;
use crate::store::{FileStore, RedisStore, Store};

/// One check and how it went.
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// `Ok` with a detail, or the reason it failed.
    pub outcome: Result<String, String>,
}

/// Every check that ran, in order.
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.outcome.is_ok())
    }

    fn push(&mut self, name: &'static str, outcome: Result<String, String>) {
        self.checks.push(Check { name, outcome });
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            match &check.outcome {
                Ok(detail) => writeln!(f, "ok    {}: {detail}", check.name)?,
                Err(reason) => writeln!(f, "FAIL  {}: {reason}", check.name)?,
            }
        }
        let verdict = match self.passed() {
            true => "all checks passed",
            false => "some checks failed",
        };
        write!(f, "{verdict}")
    }
}

/// Runs every check against the configuration in `figment`, with the store it configures
/// (Redis when `REDIS_URL` is set, else the embedded store file or memory).
pub async fn run(figment: Figment) -> Report {
    let mut report = Report { checks: Vec::new() };
    let settings = match config::load(figment) {
        Ok((_, settings)) => settings,
        Err(error) => {
            report.push("configuration", Err(error.to_string()));
            return report;
        }
    };
    report.push(
        "configuration",
        Ok(format!(
            "issuer {}, client {}, {} flow",
            settings.issuer,
            settings.client_id,
            settings.response_type.as_str()
        )),
    );
    check_urls(&settings, &mut report);
    // Every identity provider; with several, each line says which.
    for provider in &settings.providers {
        let tag = match settings.providers.len() {
            1 => String::new(),
            _ => format!("[{}] ", provider.name),
        };
        check_provider(&settings, provider, &tag, &mut report).await;
    }
    let outcome = match (&settings.redis, &settings.store) {
        (Some(redis), _) => match RedisStore::new(redis) {
            Ok(store) => store
                .ping()
                .await
                .map(|()| "Redis answers".to_string())
                .map_err(|error| error.to_string()),
            Err(error) => Err(error.to_string()),
        },
        (None, EmbeddedStore::File(path)) => {
            // Opened and closed again: the app needs the file to itself.
            match FileStore::open(path, settings.ended_sessions_capacity) {
                Ok(store) => Ok(format!(
                    "the store file {} opens ({} ended sessions)",
                    path.display(),
                    store.ended_sessions()
                )),
                Err(error) => Err(error.to_string()),
            }
        }
        (None, EmbeddedStore::Memory) => {
            Ok("process memory (STORE=memory): nothing survives a restart".to_string())
        }
    };
    report.push("store", outcome);
    report
}

/// The URLs to register at the IdP and the cookie attributes that follow from the base URL.
fn check_urls(settings: &Settings, report: &mut Report) {
    // `config::load` already refused a plain-http public base URL or one with a path.
    let outcome: Result<String, String> = Ok(format!(
        "register redirect_uri {} and post_logout_redirect_uri {}",
        settings.redirect_uri(),
        settings.post_logout_redirect_uri()
    ));
    report.push("redirect URIs", outcome);
    let cookies = match settings.cookies_secure() {
        true => "session cookie Secure, HttpOnly, SameSite=Lax".to_string(),
        false => "session cookie HttpOnly, SameSite=Lax, not Secure (plain-http loopback development only)".to_string(),
    };
    report.push("cookies", Ok(cookies));
}

/// Discovery, the signing keys, and what the configured flow needs from the IdP.
async fn check_provider(
    settings: &Settings,
    provider_settings: &ProviderSettings,
    tag: &str,
    report: &mut Report,
) {
    let mut report = Tagged { report, tag };
    let provider = match Provider::new(
        &provider_settings.issuer,
        &provider_settings.client_id,
        settings.clock_skew,
        settings.http_connect_timeout,
        settings.http_timeout,
    ) {
        Ok(provider) => provider,
        Err(error) => {
            report.push("discovery", Err(error.to_string()));
            return;
        }
    };
    let snapshot = match provider.snapshot().await {
        Ok(snapshot) => snapshot,
        Err(error) => {
            report.push("discovery and signing keys", Err(error.to_string()));
            return;
        }
    };
    report.push(
        "discovery and signing keys",
        Ok(format!(
            "{} answers, its keys are usable",
            snapshot.metadata.issuer
        )),
    );
    let metadata = &snapshot.metadata;
    let mut problems = Vec::new();
    if !metadata.supports_form_post() {
        problems.push("the IdP does not list the form_post response mode".to_string());
    }
    if provider_settings.response_type.uses_code() && metadata.token_endpoint.is_none() {
        problems.push("the code flow needs a token_endpoint, and discovery has none".into());
    }
    let outcome = match problems.is_empty() {
        true => Ok(format!(
            "{} with form_post is possible",
            provider_settings.response_type.as_str()
        )),
        false => Err(problems.join("; ")),
    };
    report.push("flow", outcome);
    report.push(
        "FAPI 2.0 client features",
        fapi_problems(
            &provider_settings.fapi,
            provider_settings.client_secret.is_some(),
            metadata,
        ),
    );
}

/// A report whose outcomes name the provider they are about.
struct Tagged<'a> {
    report: &'a mut Report,
    tag: &'a str,
}

impl Tagged<'_> {
    fn push(&mut self, name: &'static str, outcome: Result<String, String>) {
        let tag = self.tag;
        let outcome = outcome
            .map(|detail| format!("{tag}{detail}"))
            .map_err(|reason| format!("{tag}{reason}"));
        self.report.push(name, outcome);
    }
}

/// What `CLIENT_AUTH`, `PAR` and `DPOP` need from the IdP, against its discovery.
fn fapi_problems(
    fapi: &Fapi,
    has_secret: bool,
    metadata: &ProviderMetadata,
) -> Result<String, String> {
    let mut problems = Vec::new();
    if fapi.uses_private_key() {
        let methods = metadata.token_endpoint_auth_methods_supported.as_deref();
        if !methods.is_some_and(|m| m.iter().any(|m| m == "private_key_jwt")) {
            problems.push("private_key_jwt, which discovery does not list".to_string());
        }
    }
    if fapi.par == ParMode::Always && metadata.pushed_authorization_request_endpoint.is_none() {
        problems
            .push("PAR=always, and discovery has no pushed_authorization_request_endpoint".into());
    }
    if fapi.dpop {
        let algs = metadata.dpop_signing_alg_values_supported.as_deref();
        if !algs.is_some_and(|a| a.iter().any(|a| a == "ES256")) {
            problems.push(
                "DPOP=true, and discovery does not list ES256 in dpop_signing_alg_values_supported"
                    .into(),
            );
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let method = match (fapi.client_auth, fapi.client_key.is_some()) {
        (Some(method), _) => method.as_str(),
        (None, true) => "private_key_jwt",
        (None, false) => "client secret (from discovery)",
    };
    let has_credentials = has_secret || fapi.client_key.is_some();
    let pushed = par::pushes(fapi.par, metadata, has_credentials);
    Ok(format!(
        "client authentication {method}; authorization requests {}; tokens {}",
        if pushed { "pushed (PAR)" } else { "in the URL" },
        if fapi.dpop { "DPoP-bound" } else { "Bearer" }
    ))
}
