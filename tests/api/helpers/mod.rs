//! Test helpers: the app wired to an in-process test IdP, and the login steps a browser takes.
//! Every `oidc_bff` item the tests use is re-exported by `bff`; free ports and the development
//! IdP's pages come from `dev_idp::testing` (shared with that crate's own tests).
#![allow(dead_code)]

pub mod app_process;
pub mod back_channel;
pub mod bff;
pub mod idp;
pub mod oidc_provider;
pub mod redis;
pub mod store;
pub mod upstream;

use std::collections::HashMap;

use rocket::figment::Figment;
use rocket::http::{ContentType, Cookie, Header};
use rocket::local::asynchronous::{Client, LocalResponse};

pub use dev_idp::testing::free_port;
pub use idp::{TestIdp, CLIENT_ID};

pub struct TestApp {
    pub client: Client,
    pub idp: TestIdp,
}

/// What `/login` sent the browser to the IdP with.
pub struct LoginStart {
    pub state: String,
    pub nonce: String,
    pub params: HashMap<String, String>,
}

/// The app's figment for tests: Rocket defaults, the test IdP, no logging, the memory store.
pub fn figment(issuer: &str) -> Figment {
    rocket::Config::figment()
        .merge(("log_level", "off"))
        .merge(("oidc.store", "memory"))
        .merge(("secret_key", vec![7u8; 64]))
        .merge(("oidc.issuer", issuer))
        .merge(("oidc.client_id", CLIENT_ID))
        .merge(("oidc.base_url", "http://localhost:3000"))
}

/// What seals the cookies of an app built from [`figment`] (keys derived from its
/// `secret_key`), for tests that open or forge them.
pub fn cookie_keys() -> oidc_bff::testing::crypto::CookieKeys {
    use oidc_bff::testing::crypto::{CookieKeys, PreviousCookieKeys, Sealer};
    CookieKeys::new(&Sealer::new(&[7u8; 64], &[]), PreviousCookieKeys::none())
}

pub async fn app() -> TestApp {
    app_with(|f| f).await
}

pub async fn app_with(customize: impl FnOnce(Figment) -> Figment) -> TestApp {
    app_with_idp(|_| {}, customize).await
}

/// The app against an IdP prepared by `prepare` before the app first discovers it.
pub async fn app_with_idp(
    prepare: impl FnOnce(&TestIdp),
    customize: impl FnOnce(Figment) -> Figment,
) -> TestApp {
    let idp = TestIdp::start().await;
    prepare(&idp);
    let rocket = bff::build_from(customize(figment(&idp.issuer))).expect("valid test config");
    let client = Client::tracked(rocket).await.expect("app ignites");
    TestApp { client, idp }
}

/// `GET uri` (a `/login` URL) on any app, the BFF's or a host's: the parameters of its
/// redirect to the IdP (state, nonce, PKCE challenge, ...).
pub async fn idp_request_params(client: &Client, uri: &str) -> HashMap<String, String> {
    let response = client.get(uri.to_string()).dispatch().await;
    assert_eq!(response.status().code, 302, "{uri} redirects to the IdP");
    let location = response
        .headers()
        .get_one("Location")
        .expect("Location")
        .to_string();
    let url = url::Url::parse(&location).expect("absolute IdP URL");
    url.query_pairs().into_owned().collect()
}

impl TestApp {
    /// `GET /login?returnTo=…` and read state and nonce from the redirect to the IdP.
    pub async fn start_login(&self, return_to: &str) -> LoginStart {
        self.start_login_with(return_to, &[]).await
    }

    /// `GET /login?returnTo=…&<more>` and read state and nonce from the redirect to the IdP.
    pub async fn start_login_with(&self, return_to: &str, more: &[(&str, &str)]) -> LoginStart {
        let uri = format!(
            "/login?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("returnTo", return_to)
                .extend_pairs(more)
                .finish()
        );
        let params = idp_request_params(&self.client, &uri).await;
        LoginStart {
            state: params["state"].clone(),
            nonce: params["nonce"].clone(),
            params,
        }
    }

    /// The IdP's form_post to `/callback`, as the browser sends it (cookies included).
    pub async fn callback(&self, fields: &[(&str, &str)]) -> LocalResponse<'_> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.client
            .post("/callback")
            .header(ContentType::Form)
            .body(body)
            .dispatch()
            .await
    }

    /// A complete, valid login; returns the callback's response.
    pub async fn login(&self) -> LocalResponse<'_> {
        let start = self.start_login("/").await;
        let token = self.idp.token(&self.idp.claims(&start.nonce));
        self.callback(&[("id_token", &token), ("state", &start.state)])
            .await
    }

    /// `GET /api/hello` as a script's `fetch` would send it.
    pub async fn call_api(&self) -> LocalResponse<'_> {
        self.client
            .get("/api/hello")
            .header(Header::new("Sec-Fetch-Mode", "cors"))
            .header(Header::new("Sec-Fetch-Dest", "empty"))
            .header(Header::new("Accept", "*/*"))
            .dispatch()
            .await
    }

    pub fn session_cookie(&self) -> Option<String> {
        self.client
            .cookies()
            .get("bff_session")
            .map(|c| c.value().to_string())
    }
}

/// Polls `condition` (every 20 ms) until it holds, for an event the test cannot be told of;
/// panics naming `what` when it does not hold within `timeout`.
pub async fn wait_until<F, Fut>(timeout: std::time::Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + timeout;
    while !condition().await {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {timeout:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The body of a response as text.
pub async fn text(response: LocalResponse<'_>) -> String {
    response.into_string().await.unwrap_or_default()
}

/// The cookies a response sets (deletions left out), to send with the next request.
pub fn set_cookies(response: &LocalResponse<'_>) -> Vec<Cookie<'static>> {
    response
        .headers()
        .get("Set-Cookie")
        .filter_map(|header| Cookie::parse_encoded(header.to_string()).ok())
        .filter(|cookie| !cookie.value().is_empty())
        .collect()
}
