//! Helpers for driving a development IdP started with `dev_idp::start` over real HTTP, as a
//! browser (front channel) and as a client's server (back channel) would.

use dev_idp::testing;
use dev_idp::{Client, Lifetimes, Options, Running, StartError};
use openidconnect::reqwest;
use serde_json::Value;

pub use crate::extract::*;
pub use dev_idp::BANNER;

/// The client every single-client test uses: oidc-bff's development client.
pub const CLIENT_ID: &str = "oidc-bff-dev";
pub const CLIENT_SECRET: &str = "oidc-bff-dev-secret";
pub const APP: &str = "http://localhost:3000";
pub const REDIRECT_URI: &str = "http://localhost:3000/callback";
pub const POST_LOGOUT_REDIRECT_URI: &str = "http://localhost:3000/";
pub const ALICE: &str = "dev-7f3a1c2e-alice";
/// A PKCE pair (RFC 7636 Appendix B) for the tests' code requests.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A running development IdP on a free loopback port, stopped when dropped.
pub struct Idp {
    running: Running,
    /// `http://127.0.0.1:<port>`: its issuer and base URL.
    pub url: String,
    pub http: reqwest::Client,
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.running.shutdown();
    }
}

/// The IdP with oidc-bff's development client only.
pub async fn start() -> Idp {
    start_with(
        vec![Client::for_app(CLIENT_ID, CLIENT_SECRET, APP)],
        Lifetimes::default(),
    )
    .await
}

/// The IdP with these clients and lifetimes.
pub async fn start_with(clients: Vec<Client>, lifetimes: Lifetimes) -> Idp {
    start_configured(clients, lifetimes, |_| {}).await
}

/// The IdP with these clients and lifetimes and other options set by `configure`.
pub async fn start_configured(
    clients: Vec<Client>,
    lifetimes: Lifetimes,
    configure: impl Fn(&mut Options),
) -> Idp {
    // A free port can be taken between the probe and the bind: try a few.
    let mut last_error = None;
    for _ in 0..5 {
        let mut options = Options {
            port: free_port(),
            clients: clients.clone(),
            lifetimes,
            ..Options::default()
        };
        configure(&mut options);
        match dev_idp::start(options).await {
            Ok(running) => {
                let http = dev_idp::testing::http_client();
                return Idp {
                    url: running.issuer().to_string(),
                    running,
                    http,
                };
            }
            Err(error @ StartError::Listen { .. }) => last_error = Some(error),
            Err(error) => panic!("the development IdP does not start: {error}"),
        }
    }
    panic!("no free port for the development IdP: {last_error:?}")
}

pub use dev_idp::testing::{free_port, IdpPage};

/// What a client posts to the token or revocation endpoint to authenticate.
#[derive(Clone, Copy, Debug)]
pub enum Auth<'a> {
    Basic(&'a str, &'a str),
    Post(&'a str, &'a str),
    /// `private_key_jwt`: this client assertion.
    Assertion(&'a str),
    None,
}

/// The development client by HTTP Basic.
pub const BASIC: Auth<'static> = Auth::Basic(CLIENT_ID, CLIENT_SECRET);

/// A back-channel answer: status, the headers that matter, JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub cache_control: Option<String>,
    pub www_authenticate: Option<String>,
    /// `DPoP-Nonce` (RFC 9449 §8).
    pub dpop_nonce: Option<String>,
    pub json: Value,
}

impl Idp {
    /// A valid authentication request for the development client (`id_token`, form_post),
    /// with some parameters changed (`None` removes one).
    pub fn authorize_url(&self, changes: &[(&str, Option<&str>)]) -> String {
        let mut params: Vec<(String, String)> = [
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "id_token"),
            ("response_mode", "form_post"),
            ("scope", "openid profile email"),
            ("state", "state-123"),
            ("nonce", "nonce-456"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        for (name, value) in changes {
            params.retain(|(n, _)| n != name);
            if let Some(value) = value {
                params.push((name.to_string(), value.to_string()));
            }
        }
        format!("{}/authorize?{}", self.url, encode(params))
    }

    /// A code request (`response_type=code` with the tests' S256 challenge), other changes
    /// applied after.
    pub fn code_url(&self, changes: &[(&str, Option<&str>)]) -> String {
        let mut all = vec![
            ("response_type", Some("code")),
            ("code_challenge", Some(CHALLENGE)),
            ("code_challenge_method", Some("S256")),
        ];
        all.extend_from_slice(changes);
        self.authorize_url(&all)
    }

    /// `/end_session?<params>`.
    pub fn end_session_url(&self, params: &[(&str, &str)]) -> String {
        format!(
            "{}/end_session?{}",
            self.url,
            encode(params.iter().copied())
        )
    }

    pub async fn get(&self, url: &str, cookie: Option<&str>) -> IdpPage {
        testing::get(&self.http, url, cookie).await
    }

    pub async fn post_form(&self, url: &str, fields: &[(String, String)]) -> IdpPage {
        testing::post_form(&self.http, url, fields, None).await
    }

    /// Submits `page`'s form (its hidden fields and `fields`) within the IdP session `cookie`.
    pub async fn submit_with_cookie(
        &self,
        current: &IdpPage,
        fields: &[(&str, &str)],
        cookie: &str,
    ) -> IdpPage {
        testing::submit(&self.http, &self.url, current, fields, Some(cookie)).await
    }

    /// `GET <url>` with `Authorization: Bearer <token>` when there is one (the demo API).
    pub async fn get_with_token(&self, url: &str, token: Option<&str>) -> Answer {
        let mut request = self.http.get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answer(request.send().await.expect("IdP reachable")).await
    }

    /// Submits the sign-in page's form with these credentials (or `action=cancel`).
    pub async fn submit_sign_in(&self, sign_in: &IdpPage, fields: &[(&str, &str)]) -> IdpPage {
        testing::submit(&self.http, &self.url, sign_in, fields, None).await
    }

    /// Opens `url` (an authentication request) and signs in as `user` (password = name) when
    /// the sign-in page shows; returns the form_post page and the IdP session cookie.
    pub async fn sign_in(&self, url: &str, user: &str, cookie: Option<&str>) -> (IdpPage, String) {
        let (page, cookie) = testing::sign_in(&self.http, &self.url, url, user, cookie).await;
        (page, cookie.expect("IdP session"))
    }

    /// A whole `id_token` login as alice; returns the IdP session cookie and the ID token.
    pub async fn login_as_alice(&self) -> (String, String) {
        let (form_post, cookie) = self.sign_in(&self.authorize_url(&[]), "alice", None).await;
        let id_token = field(&form_post.body, "id_token").expect("id_token");
        (cookie, id_token)
    }

    /// A fresh code for the tests' own PKCE pair, issued to alice (signing in if `cookie`
    /// holds no IdP session); returns the code and the IdP session cookie.
    pub async fn code_for_alice(&self, cookie: Option<&str>) -> (String, String) {
        let (page, cookie) = self.sign_in(&self.code_url(&[]), "alice", cookie).await;
        assert!(field(&page.body, "id_token").is_none(), "code flow");
        let code = field(&page.body, "code").expect("code in the form_post");
        (code, cookie)
    }

    /// A form POST to one of the IdP's back-channel endpoints.
    pub async fn back_channel(&self, path: &str, auth: Auth<'_>, form: &[(&str, &str)]) -> Answer {
        self.back_channel_with(path, auth, form, &[]).await
    }

    /// A form POST to one of the IdP's back-channel endpoints, with more headers (`DPoP`).
    pub async fn back_channel_with(
        &self,
        path: &str,
        auth: Auth<'_>,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        let mut request = self.http.post(format!("{}{path}", self.url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        match auth {
            Auth::Basic(id, secret) => request = request.basic_auth(id, Some(secret)),
            Auth::Post(id, secret) => {
                fields.push(("client_id", id));
                fields.push(("client_secret", secret));
            }
            Auth::Assertion(assertion) => {
                fields.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ));
                fields.push(("client_assertion", assertion));
            }
            Auth::None => {}
        }
        answer(request.form(&fields).send().await.expect("IdP reachable")).await
    }

    /// The token endpoint, as the development client by HTTP Basic.
    pub async fn token(&self, form: &[(&str, &str)]) -> Answer {
        self.back_channel("/token", BASIC, form).await
    }

    pub async fn redeem(&self, code: &str, verifier: &str) -> Answer {
        self.redeem_as(BASIC, code, REDIRECT_URI, verifier).await
    }

    pub async fn redeem_as(
        &self,
        auth: Auth<'_>,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Answer {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        self.back_channel("/token", auth, &form).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Answer {
        self.refresh_as(BASIC, refresh_token).await
    }

    pub async fn refresh_as(&self, auth: Auth<'_>, refresh_token: &str) -> Answer {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        self.back_channel("/token", auth, &form).await
    }

    /// `GET <url>` with these headers (`Authorization: DPoP …`, `DPoP`).
    pub async fn get_with_headers(&self, url: &str, headers: &[(&str, &str)]) -> Answer {
        let mut request = self.http.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        answer(request.send().await.expect("IdP reachable")).await
    }

    pub async fn userinfo(&self, access_token: &str) -> Answer {
        let request = self
            .http
            .get(format!("{}/userinfo", self.url))
            .bearer_auth(access_token);
        answer(request.send().await.expect("IdP reachable")).await
    }
}

fn encode<K: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (K, V)>) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let cache_control = header("cache-control");
    let www_authenticate = header("www-authenticate");
    let dpop_nonce = header("dpop-nonce");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    Answer {
        status,
        cache_control,
        www_authenticate,
        dpop_nonce,
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

pub async fn page(response: reqwest::Response) -> IdpPage {
    IdpPage::read(response).await
}
