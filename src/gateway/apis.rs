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
        })
    }
}
