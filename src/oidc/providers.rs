//! Every identity provider of this instance, each with its own discovery and key caches and
//! its own client: the default one (the single-issuer settings, else the first configured),
//! then the others of `[oidc.providers]`. A login is bound to the provider it was started
//! with, a session to the provider it came from, a back-channel logout token to its issuer.

use std::sync::Arc;

use super::fetch::ProviderError;
use super::provider::Provider;
use crate::config::{ProviderSettings, Settings, DEFAULT_PROVIDER};

/// One provider: how it is configured, and this app's client of it.
pub struct IdentityProvider {
    /// Its settings (name, issuer, client, response type and mode, scopes).
    pub settings: ProviderSettings,
    /// The client of it.
    pub client: Arc<Provider>,
}

impl IdentityProvider {
    /// The name sessions, attempts and stored tokens record it by, and that scopes its users'
    /// `sub` and `sid`: none for the single-issuer settings' provider (`default`), so what
    /// existed before there were several stays as it was.
    pub fn scope(&self) -> Option<&str> {
        (self.settings.name != DEFAULT_PROVIDER).then_some(self.settings.name.as_str())
    }
}

/// The providers, the default first; cheap to clone (the token keeper holds one).
#[derive(Clone)]
pub struct IdentityProviders {
    list: Arc<[IdentityProvider]>,
}

impl IdentityProviders {
    /// A client for each configured provider; `default` is the one already built for the
    /// default provider (the app's `Arc<Provider>` state).
    pub fn new(settings: &Settings, default: Arc<Provider>) -> Result<Self, ProviderError> {
        let mut list = Vec::with_capacity(settings.providers.len());
        for (i, provider) in settings.providers.iter().enumerate() {
            let client = match i {
                0 => default.clone(),
                _ => Arc::new(client_of(provider, settings)?),
            };
            list.push(IdentityProvider {
                settings: provider.clone(),
                client,
            });
        }
        Ok(Self { list: list.into() })
    }

    /// The default provider.
    pub fn default_provider(&self) -> &IdentityProvider {
        &self.list[0]
    }

    /// Whether there is more than one: then the user chooses, and the IdP must name itself in
    /// its answer (RFC 9207).
    pub fn several(&self) -> bool {
        self.list.len() > 1
    }

    /// Every provider, the default first.
    pub fn all(&self) -> &[IdentityProvider] {
        &self.list
    }

    /// The provider with this name.
    pub fn named(&self, name: &str) -> Option<&IdentityProvider> {
        self.list.iter().find(|p| p.settings.name == name)
    }

    /// The provider a session, attempt or token set records (see [`IdentityProvider::scope`]:
    /// `None` is the single-issuer settings' one); `None` when it is no longer configured.
    pub fn chosen(&self, scope: Option<&str>) -> Option<&IdentityProvider> {
        self.named(scope.unwrap_or(DEFAULT_PROVIDER))
    }

    /// The provider whose issuer this is.
    pub fn with_issuer(&self, issuer: &str) -> Option<&IdentityProvider> {
        self.list.iter().find(|p| p.settings.issuer == issuer)
    }

    /// The provider users of this email's domain log in at, if one claims it.
    pub fn for_email(&self, email: &str) -> Option<&IdentityProvider> {
        self.list.iter().find(|p| p.settings.routes_email(email))
    }
}

/// The client of a provider other than the default one.
pub fn client_of(
    provider: &ProviderSettings,
    settings: &Settings,
) -> Result<Provider, ProviderError> {
    Ok(Provider::new(
        &provider.issuer,
        &provider.client_id,
        settings.clock_skew,
        settings.http_connect_timeout,
        settings.http_timeout,
    )?
    .with_client_secret(provider.client_secret.clone())
    .with_fapi(&provider.fapi))
}
