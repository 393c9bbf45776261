//! The app with the built-in development identity provider (feature `dev-idp`, debug builds):
//! the app built without an issuer starts it on a free port and logs in there; the app runs in
//! process (`rocket::local`) and the IdP is driven over real HTTP, as a browser would (and as
//! the app's server does for the token endpoint, UserInfo and revocation).
//!
//! Only what needs the app is here; the IdP's own behaviour is tested in its crate
//! (`dev-idp/tests/idp/`).
//!
//! `login`: logging in and out through the development IdP; `code_flow`: the code and hybrid
//! flows, refresh and revocation there; `fapi`: pushed, key-authenticated, DPoP-bound logins.

#![cfg(all(feature = "dev-idp", debug_assertions))]

use crate::helpers;

mod code_flow;
mod fapi;
mod login;

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use dev_idp::testing::{self, field, form_action, free_port, IdpPage};
use helpers::bff::DEFAULT_CLIENT_SECRET;
use openidconnect::reqwest;
use rocket::figment::Figment;
use rocket::http::{ContentType, Header};
use rocket::local::asynchronous::{Client, LocalResponse};
use serde_json::Value;
use sha2::{Digest, Sha256};

const APP: &str = "http://localhost:3000";
const CLIENT_ID: &str = "oidc-bff-dev";
const ALICE: &str = "dev-7f3a1c2e-alice";

/// The app with no issuer configured, and the development IdP it started.
struct DevApp {
    app: Client,
    /// `http://127.0.0.1:<port>`
    idp: String,
    http: reqwest::Client,
    /// The app's store, to read the tokens it keeps for a session.
    store: Arc<RecordingStore>,
}

use crate::helpers::store::ObservedStore as RecordingStore;

impl RecordingStore {
    /// The tokens the app keeps for its (only) code-flow session, as JSON.
    async fn session_tokens(&self) -> Option<Value> {
        let keys = self.puts();
        let key = keys.iter().rev().find(|k| k.starts_with("tokens:"))?;
        serde_json::from_str(&self.tokens_json(key).await?).ok()
    }
}

/// A back-channel answer: status and JSON body (`Null` when empty).
#[derive(Debug)]
struct Answer {
    status: u16,
    json: Value,
}

/// Rocket's figment as the tests use it, without `oidc.issuer`, the IdP on `port`.
fn figment_without_issuer(port: u16) -> Figment {
    rocket::Config::figment()
        .merge(("log_level", "off"))
        .merge(("secret_key", vec![7u8; 64]))
        .merge(("oidc.base_url", APP))
        .merge(("oidc.dev_idp_port", port))
        // These tests read the authorization request in the browser's URL. The development
        // IdP has a PAR endpoint, so by default (`PAR=auto`) the request is pushed: that is
        // tested on its own below.
        .merge(("oidc.par", "never"))
}

async fn start() -> DevApp {
    start_with(|f| f).await
}

/// The app (and its IdP) with some settings changed, e.g. `oidc.response_type`.
async fn start_with(customize: impl FnOnce(Figment) -> Figment) -> DevApp {
    let port = free_port();
    let figment = customize(figment_without_issuer(port));
    // The app's sealer, so the test can read the tokens it keeps (the issuer is irrelevant).
    let settings_only = figment
        .clone()
        .merge(("oidc.issuer", "http://127.0.0.1"))
        .merge(("oidc.client_id", "x"))
        .merge(("oidc.client_secret", "x"));
    let (_, settings) = helpers::bff::load_settings(settings_only).expect("valid settings");
    let store = Arc::new(RecordingStore::opening_with(settings.sealer));
    let rocket =
        helpers::bff::build_with_store(figment, store.clone()).expect("config without issuer");
    let app = Client::tracked(rocket)
        .await
        .expect("the app ignites and starts the development IdP");
    let http = testing::http_client();
    DevApp {
        app,
        idp: format!("http://127.0.0.1:{port}"),
        http,
        store,
    }
}

/// The app logging in with `response_type`, and no client secret configured.
async fn start_code(response_type: &'static str) -> DevApp {
    start_with(|f| f.merge(("oidc.response_type", response_type))).await
}

impl DevApp {
    /// `GET /login` at the app: the URL of the IdP's authorization endpoint it redirects to.
    async fn login_url(&self) -> String {
        let response = self.app.get("/login").dispatch().await;
        assert_eq!(response.status().code, 302, "/login redirects to the IdP");
        response
            .headers()
            .get_one("Location")
            .expect("Location")
            .to_string()
    }

    async fn get(&self, url: &str, cookie: Option<&str>) -> IdpPage {
        testing::get(&self.http, url, cookie).await
    }

    /// Submits the sign-in page's form with these credentials (or `action=cancel`).
    async fn submit_sign_in(&self, sign_in: &IdpPage, fields: &[(&str, &str)]) -> IdpPage {
        testing::submit(&self.http, &self.idp, sign_in, fields, None).await
    }

    /// What the browser posts to the app's `/callback` from a form_post page.
    async fn post_callback(&self, form_post: &IdpPage) -> LocalResponse<'_> {
        assert_eq!(
            form_action(&form_post.body).as_deref(),
            Some("http://localhost:3000/callback")
        );
        let body = form_post.form_post_body();
        self.app
            .post("/callback")
            .header(ContentType::Form)
            .body(body)
            .dispatch()
            .await
    }

    /// A whole login as alice; returns the IdP session cookie and the ID token.
    async fn login_as_alice(&self) -> (String, String) {
        let sign_in = self.get(&self.login_url().await, None).await;
        let form_post = self
            .submit_sign_in(&sign_in, &[("username", "alice"), ("password", "alice")])
            .await;
        let cookie = idp_cookie(&form_post).expect("IdP session cookie");
        let id_token = field(&form_post.body, "id_token").expect("id_token");
        let callback = self.post_callback(&form_post).await;
        assert_eq!(callback.status().code, 303, "the app accepts the login");
        (cookie, id_token)
    }

    async fn call_api(&self) -> LocalResponse<'_> {
        self.call("/api/hello").await
    }

    /// An API route of the app, as the page's script fetches it.
    async fn call(&self, path: &'static str) -> LocalResponse<'_> {
        self.app
            .get(path)
            .header(Header::new("Sec-Fetch-Mode", "cors"))
            .header(Header::new("Sec-Fetch-Dest", "empty"))
            .dispatch()
            .await
    }

    /// A code flow through the app: `/login`, sign-in as alice, then the browser posts the
    /// IdP's form_post to `/callback`. Returns the form_post page the IdP answered with.
    async fn code_login_as_alice(&self) -> IdpPage {
        let sign_in = self.get(&self.login_url().await, None).await;
        let form_post = self
            .submit_sign_in(&sign_in, &[("username", "alice"), ("password", "alice")])
            .await;
        assert_eq!(form_post.status, 200);
        let callback = self.post_callback(&form_post).await;
        assert_eq!(callback.status().code, 303, "the app accepts the login");
        form_post
    }

    /// The refresh grant at the IdP's token endpoint, as the app's client authenticates.
    async fn refresh(&self, refresh_token: &str) -> Answer {
        let request = self
            .http
            .post(format!("{}/token", self.idp))
            .basic_auth(CLIENT_ID, Some(DEFAULT_CLIENT_SECRET))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ]);
        answer(request.send().await.expect("IdP reachable")).await
    }

    async fn userinfo(&self, access_token: &str) -> Answer {
        let request = self
            .http
            .get(format!("{}/userinfo", self.idp))
            .bearer_auth(access_token);
        answer(request.send().await.expect("IdP reachable")).await
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    Answer {
        status,
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// `at_hash` / `c_hash` for RS256: the left half of SHA-256, base64url.
fn half_hash(value: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&Sha256::digest(value.as_bytes())[..16])
}

/// The string field `name` of a JSON answer.
fn text_of(json: &Value, name: &str) -> String {
    json[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in {json}"))
        .to_string()
}

/// `devidp_session=<value>` from a page's `Set-Cookie`, ready for a `Cookie` header.
fn idp_cookie(page: &IdpPage) -> Option<String> {
    page.session_cookie()
}

fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .expect("absolute URL")
        .query_pairs()
        .into_owned()
        .collect()
}

fn claims(id_token: &str) -> Value {
    let payload = id_token.split('.').nth(1).expect("JWT payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}
