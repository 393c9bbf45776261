//! The clients (relying parties) registered at the development IdP: who they are, their
//! secrets, and where the IdP may send a browser back to for them.

use std::fmt;

use subtle::ConstantTimeEq;

/// How a client authenticates at the token, revocation and PAR endpoints: a shared secret
/// (`client_secret_basic` or `client_secret_post`) or, for `private_key_jwt` (RFC 7523 §2.2),
/// its public keys. A secret is never printed and is compared in constant time.
#[derive(Clone)]
pub struct ClientSecret(Credential);

#[derive(Clone)]
enum Credential {
    Secret(String),
    Keys(ClientKeys),
}

/// Where a `private_key_jwt` client's public keys are: a `jwks_uri`, an inline JWKS, or both
/// (the inline keys are tried first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientKeys {
    /// Fetched (with a short timeout), cached, and fetched again once for an unknown `kid`.
    pub jwks_uri: Option<String>,
    /// A JWK Set (`{"keys": [...]}`) of public keys.
    pub jwks: Option<serde_json::Value>,
}

impl ClientSecret {
    /// The secret the client authenticates with at the token and revocation endpoints.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(Credential::Secret(secret.into()))
    }

    /// No secret: the client authenticates with `private_key_jwt`, signing with a key of
    /// `keys`.
    pub fn private_key_jwt(keys: ClientKeys) -> Self {
        Self(Credential::Keys(keys))
    }

    /// Whether `presented` is this secret, in time independent of where they differ. Always
    /// false for a `private_key_jwt` client.
    pub fn matches(&self, presented: &str) -> bool {
        match &self.0 {
            Credential::Secret(secret) => secret.as_bytes().ct_eq(presented.as_bytes()).into(),
            Credential::Keys(_) => false,
        }
    }

    /// The public keys of a `private_key_jwt` client; `None` for a client with a secret.
    pub fn keys(&self) -> Option<&ClientKeys> {
        match &self.0 {
            Credential::Secret(_) => None,
            Credential::Keys(keys) => Some(keys),
        }
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Credential::Secret(_) => f.write_str("ClientSecret(…)"),
            Credential::Keys(keys) => f.debug_tuple("PrivateKeyJwt").field(keys).finish(),
        }
    }
}

/// A confidential client registered at the IdP.
#[derive(Debug, Clone)]
pub struct Client {
    /// Its `client_id`.
    pub client_id: String,
    /// Its secret (`client_secret_basic` or `client_secret_post`), or its public keys
    /// (`private_key_jwt`, see [`ClientSecret::private_key_jwt`]).
    pub client_secret: ClientSecret,
    /// Where authentication responses may go, each compared exactly (RFC 9700 §2.1).
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return to, each compared exactly.
    pub post_logout_redirect_uris: Vec<String>,
    /// Where the IdP posts a logout token when a session ends (OpenID Connect Back-Channel
    /// Logout 1.0 §2.2); `None`: the client is not told.
    pub backchannel_logout_uri: Option<String>,
}

impl Client {
    /// A client whose redirect URI is `<base_url>/callback`, whose post-logout redirect URI is
    /// `<base_url>/` and whose back-channel logout URI is `<base_url>/backchannel-logout`, as
    /// oidc-bff uses them.
    pub fn for_app(client_id: &str, client_secret: &str, base_url: &str) -> Self {
        let base = base_url.trim_end_matches('/');
        Self {
            client_id: client_id.to_string(),
            client_secret: ClientSecret::new(client_secret),
            redirect_uris: vec![format!("{base}/callback")],
            post_logout_redirect_uris: vec![format!("{base}/")],
            backchannel_logout_uri: Some(format!("{base}/backchannel-logout")),
        }
    }
}

impl Client {
    /// [`Client::for_app`] authenticating with `private_key_jwt` and the keys at `jwks_uri`.
    pub fn for_app_with_jwks_uri(client_id: &str, jwks_uri: &str, base_url: &str) -> Self {
        Self {
            client_secret: ClientSecret::private_key_jwt(ClientKeys {
                jwks_uri: Some(jwks_uri.to_string()),
                jwks: None,
            }),
            ..Self::for_app(client_id, "", base_url)
        }
    }

    /// Whether it authenticates with `private_key_jwt` rather than a secret.
    pub fn uses_private_key_jwt(&self) -> bool {
        self.client_secret.keys().is_some()
    }
}

/// Every registered client, looked up by id.
#[derive(Debug, Clone, Default)]
pub struct Clients(Vec<Client>);

impl Clients {
    pub fn new(clients: Vec<Client>) -> Self {
        Self(clients)
    }

    pub fn get(&self, client_id: &str) -> Option<&Client> {
        self.0.iter().find(|client| client.client_id == client_id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Client> {
        self.0.iter()
    }

    /// The client ids, for messages: `a`, `b` and `c`.
    pub fn names(&self) -> String {
        let ids: Vec<String> = self.0.iter().map(|c| c.client_id.clone()).collect();
        quoted(&ids)
    }

    /// The origins the IdP posts authentication responses to (for its `form-action`).
    pub fn redirect_origins(&self) -> Vec<String> {
        let mut origins: Vec<String> = self
            .0
            .iter()
            .flat_map(|client| &client.redirect_uris)
            .filter_map(|uri| url::Url::parse(uri).ok())
            .map(|url| url.origin().ascii_serialization())
            .collect();
        origins.sort();
        origins.dedup();
        origins
    }
}

/// `a`, `b` and `c`, each in backquotes.
pub fn quoted(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|item| format!("`{item}`")).collect();
    match items.split_last() {
        None => "none".into(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}
