//! The configured remote APIs and the HTTP client that calls them.

use std::collections::HashMap;
use std::time::Duration;

use crate::config::{RemoteApi, Settings};

/// The configured APIs and the HTTP client that calls them.
pub struct Gateway {
    pub(super) apis: HashMap<String, RemoteApi>,
    pub(super) http: reqwest::Client,
    pub(super) body_limit: u64,
    pub(super) timeout: Duration,
    /// `X-Forwarded-Host`: the configured host, never a `Host` a client made up; made once
    /// rather than on every call.
    pub(super) forwarded_host: Option<String>,
    /// `X-Forwarded-Proto`: the scheme of the configured base URL.
    pub(super) forwarded_proto: &'static str,
}

impl Gateway {
    /// The gateway for the configured remote APIs.
    pub fn new(settings: &Settings) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            // The API's redirects go back to the browser as they are.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.http_connect_timeout)
            // A stalled body (either way) ends the exchange, however long a download is.
            .read_timeout(settings.gateway_timeout)
            .build()?;
        Ok(Self {
            apis: settings
                .remote_apis
                .iter()
                .map(|api| (api.name.clone(), api.clone()))
                .collect(),
            http,
            body_limit: settings.gateway_body_limit,
            timeout: settings.gateway_timeout,
            forwarded_host: settings.base_url.host_str().map(|host| {
                match settings.base_url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_string(),
                }
            }),
            forwarded_proto: if settings.base_url.scheme() == "http" {
                "http"
            } else {
                "https"
            },
        })
    }
}
