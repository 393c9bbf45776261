//! The app with the built-in development identity provider (feature `dev-idp`, debug builds):
//! the app built without an issuer starts it on a free port and logs in there; the app runs in
//! process (`rocket::local`) and the IdP is driven over real HTTP, as a browser would (and as
//! the app's server does for the token endpoint, UserInfo and revocation).
//!
//! Only what needs the app is here; the IdP's own behaviour is tested in its crate
//! (`dev-idp/tests/idp/`).
#![cfg(all(feature = "dev-idp", debug_assertions))]

use std::collections::HashMap;
use std::sync::Arc;

use crate::helpers;
use base64::Engine;
use dev_idp::testing::{self, field, form_action, free_port, IdpPage};
use helpers::bff::DEFAULT_CLIENT_SECRET;
use openidconnect::reqwest;
use rocket::figment::Figment;
use rocket::http::{ContentType, Header};
use rocket::local::asynchronous::{Client, LocalResponse};
use serde_json::{json, Value};
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
        .merge(("oidc.issuer", "http://x"))
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

#[rocket::async_test]
async fn app_without_issuer_in_a_debug_build_logs_in_at_the_dev_idp() {
    let dev = start().await;
    let login = dev.login_url().await;
    assert!(
        login.starts_with(&format!("{}/authorize?", dev.idp)),
        "{login}"
    );
    let params = query(&login);
    assert_eq!(params["client_id"], "oidc-bff-dev");
    assert_eq!(params["redirect_uri"], "http://localhost:3000/callback");
    assert_eq!(params["response_type"], "id_token");
    assert_eq!(params["response_mode"], "form_post");
}

#[rocket::async_test]
async fn a_full_login_through_the_dev_idp_ends_with_an_app_session() {
    let dev = start().await;
    // The app sends the browser to the IdP ...
    let login = dev.login_url().await;
    let nonce = query(&login)["nonce"].clone();
    let sign_in = dev.get(&login, None).await;
    assert_eq!(sign_in.status, 200);
    // ... where alice signs in with her password ...
    let form_post = dev
        .submit_sign_in(&sign_in, &[("username", "alice"), ("password", "alice")])
        .await;
    assert_eq!(form_post.status, 200);
    assert!(form_post.body.contains(r#"src="/assets/form_post.js""#));
    assert!(form_post.body.contains(r#"id="continue""#));
    assert!(idp_cookie(&form_post).is_some());
    let id_token = field(&form_post.body, "id_token").expect("id_token");
    assert_eq!(
        field(&form_post.body, "state"),
        Some(query(&login)["state"].clone())
    );
    let claims = claims(&id_token);
    assert_eq!(claims["iss"], dev.idp);
    assert_eq!(claims["aud"], serde_json::json!(["oidc-bff-dev"]));
    assert_eq!(claims["nonce"], nonce.as_str());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    for claim in [
        "sub",
        "auth_time",
        "sid",
        "name",
        "given_name",
        "family_name",
        "email",
        "email_verified",
        "picture",
        "preferred_username",
    ] {
        assert!(claims.get(claim).is_some(), "{claim} in {claims}");
    }
    assert_eq!(claims["email"], "alice@example.com");
    // ... and the browser posts the response to the app, which starts a session.
    let callback = dev.post_callback(&form_post).await;
    assert_eq!(callback.status().code, 303);
    assert_eq!(callback.headers().get_one("Location"), Some("/"));
    assert!(dev.app.cookies().get("bff_session").is_some());
    let hello = dev.call_api().await;
    assert_eq!(hello.status().code, 200);
    let body: Value = serde_json::from_str(&hello.into_string().await.unwrap()).unwrap();
    assert_eq!(body["name"], "Alice Liddell");
    assert_eq!(body["message"], "Hello, Alice Liddell!");
}

#[rocket::async_test]
async fn a_code_login_ends_with_a_session_whose_upstream_api_is_the_dev_idps_userinfo() {
    assert_eq!(
        DEFAULT_CLIENT_SECRET, "oidc-bff-dev-secret",
        "as documented"
    );
    let dev = start_code("code").await;
    let login = query(&dev.login_url().await);
    assert_eq!(login["response_type"], "code");
    assert_eq!(login["code_challenge_method"], "S256");
    let form_post = dev.code_login_as_alice().await;
    // The browser carried a code and the state, never a token.
    assert!(field(&form_post.body, "code").is_some_and(|c| c.len() >= 43));
    assert!(field(&form_post.body, "id_token").is_none());
    assert_eq!(field(&form_post.body, "iss"), Some(dev.idp.clone()));
    // The app keeps the tokens the token endpoint issued, on the server.
    let tokens = dev.store.session_tokens().await.expect("tokens kept");
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let expires_in = tokens["expires_at"].as_i64().unwrap() - helpers::bff::app_now();
    assert!((295..=300).contains(&expires_in), "{expires_in}");

    let hello = dev.call_api().await;
    assert_eq!(hello.status().code, 200);
    let hello: Value = hello.into_json().await.unwrap();
    assert_eq!(hello["message"], "Hello, Alice Liddell!");
    let upstream = dev.call("/api/upstream").await;
    assert_eq!(upstream.status().code, 200);
    let userinfo: Value = upstream.into_json().await.unwrap();
    assert_eq!(
        userinfo,
        json!({
            "sub": ALICE,
            "name": "Alice Liddell",
            "given_name": "Alice",
            "family_name": "Liddell",
            "preferred_username": "alice",
            "picture": format!("{}/avatars/alice.svg", dev.idp),
            "email": "alice@example.com",
            "email_verified": true,
        })
    );
}

#[rocket::async_test]
async fn a_hybrid_login_carries_an_id_token_bound_to_the_code() {
    let dev = start_code("code id_token").await;
    let login = dev.login_url().await;
    assert_eq!(query(&login)["response_type"], "code id_token");
    let sign_in = dev.get(&login, None).await;
    let form_post = dev
        .submit_sign_in(&sign_in, &[("username", "alice"), ("password", "alice")])
        .await;
    let code = field(&form_post.body, "code").expect("code");
    let claims = claims(&field(&form_post.body, "id_token").expect("id_token"));
    assert_eq!(claims["c_hash"], half_hash(&code));
    assert_eq!(claims["nonce"], query(&login)["nonce"].as_str());
    assert_eq!(claims["sub"], ALICE);
    assert_eq!(dev.post_callback(&form_post).await.status().code, 303);
    let upstream = dev.call("/api/upstream").await;
    assert_eq!(upstream.status().code, 200);
    let userinfo: Value = upstream.into_json().await.unwrap();
    assert_eq!(userinfo["email"], "alice@example.com");
}

#[rocket::async_test]
async fn the_app_refreshes_at_the_dev_idp_and_keeps_the_rotated_refresh_token() {
    // 30 s is within the app's 60 s refresh margin: every API call refreshes first.
    let dev = start_with(|f| {
        f.merge(("oidc.response_type", "code"))
            .merge(("oidc.dev_idp_access_token_ttl", 30))
    })
    .await;
    dev.code_login_as_alice().await;
    let before = dev.store.session_tokens().await.unwrap();
    let upstream = dev.call("/api/upstream").await;
    assert_eq!(upstream.status().code, 200);
    let after = dev.store.session_tokens().await.unwrap();
    assert_ne!(after["refresh_token"], before["refresh_token"]);
    assert_ne!(after["access_token"], before["access_token"]);
    let old = dev.refresh(&text_of(&before, "refresh_token")).await;
    assert_eq!(old.json["error"], "invalid_grant", "rotated");
}

#[rocket::async_test]
async fn the_apps_logout_revokes_the_refresh_token_at_the_dev_idp() {
    let dev = start_code("code").await;
    dev.code_login_as_alice().await;
    let tokens = dev.store.session_tokens().await.expect("tokens kept");
    let access_token = text_of(&tokens, "access_token");
    let refresh_token = text_of(&tokens, "refresh_token");
    assert_eq!(dev.userinfo(&access_token).await.status, 200);
    let logout = dev.app.post("/logout").dispatch().await;
    assert_eq!(logout.status().code, 303);
    let refused = dev.refresh(&refresh_token).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json["error"], "invalid_grant");
    assert_eq!(
        dev.userinfo(&access_token).await.status,
        401,
        "its access tokens went with it"
    );
}

#[rocket::async_test]
async fn cancelling_at_the_dev_idp_leaves_the_app_without_a_session() {
    let dev = start().await;
    let sign_in = dev.get(&dev.login_url().await, None).await;
    let page = dev.submit_sign_in(&sign_in, &[("action", "cancel")]).await;
    assert_eq!(field(&page.body, "error").as_deref(), Some("access_denied"));
    let callback = dev.post_callback(&page).await;
    assert_eq!(callback.status().code, 401);
    assert!(dev.app.cookies().get("bff_session").is_none());
}

#[rocket::async_test]
async fn the_apps_logout_ends_the_dev_idp_session_and_returns_to_the_app() {
    let dev = start().await;
    let (cookie, _) = dev.login_as_alice().await;
    // A second login in the IdP session needs no password, and the app accepts it.
    let again = dev.get(&dev.login_url().await, Some(&cookie)).await;
    assert!(!again.body.contains(r#"id="password""#));
    assert!(field(&again.body, "id_token").is_some());
    assert_eq!(dev.post_callback(&again).await.status().code, 303);

    // The app's own logout goes there with client_id, post_logout_redirect_uri and the hint.
    let logout = dev.app.post("/logout").dispatch().await;
    let location = logout.headers().get_one("Location").unwrap().to_string();
    assert!(
        location.starts_with(&format!("{}/end_session?", dev.idp)),
        "{location}"
    );
    let params = query(&location);
    assert_eq!(params["client_id"], CLIENT_ID);
    assert_eq!(params["post_logout_redirect_uri"], "http://localhost:3000/");
    assert!(params.contains_key("id_token_hint"));
    let page = dev
        .get(&format!("{location}&state=bye"), Some(&cookie))
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location.as_deref(),
        Some("http://localhost:3000/?state=bye")
    );
    assert!(page
        .set_cookie
        .iter()
        .any(|c| c.starts_with("devidp_session=;")));
    // The IdP session is over: the next login asks for the password again.
    let next = dev.get(&dev.login_url().await, Some(&cookie)).await;
    assert!(next.body.contains(r#"id="password""#));
}

/// FAPI 2.0 at the development IdP: the request pushed (the browser's URL holds `client_id`
/// and `request_uri` only), the app authenticated by its key (registered inline from its
/// public key set), and tokens bound to the session's DPoP key: useless as Bearer tokens,
/// accepted with the app's proofs at UserInfo and at the demo API behind the gateway.
#[rocket::async_test]
async fn a_fapi_login_at_the_dev_idp_is_pushed_key_authenticated_and_dpop_bound() {
    let key = format!("{}/tests/support/keys/ec-a.pem", env!("CARGO_MANIFEST_DIR"));
    let dev = start_with(move |f| {
        f.merge(("oidc.response_type", "code"))
            .merge(("oidc.client_auth", "private_key_jwt"))
            .merge(("oidc.client_private_key", key))
            .merge(("oidc.par", "always"))
            .merge(("oidc.dpop", true))
    })
    .await;
    let login = query(&dev.login_url().await);
    let mut names: Vec<&str> = login.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["client_id", "request_uri"], "{login:?}");

    dev.code_login_as_alice().await;
    let tokens = dev.store.session_tokens().await.expect("tokens kept");
    assert!(
        tokens["dpop_key"].is_string(),
        "the session's key is kept: {tokens}"
    );
    let access_token = text_of(&tokens, "access_token");
    assert_eq!(
        dev.userinfo(&access_token).await.status,
        401,
        "a DPoP-bound token is refused as a Bearer token"
    );

    let upstream = dev.call("/api/upstream").await;
    assert_eq!(upstream.status().code, 200);
    let userinfo: Value = upstream.into_json().await.unwrap();
    assert_eq!(userinfo["sub"], ALICE);
    let demo = dev.call("/api/demo/hello").await;
    assert_eq!(demo.status().code, 200);
    let demo: Value = demo.into_json().await.unwrap();
    assert_eq!(demo["sub"], ALICE);
}

/// `cargo run` as it is (`PAR=auto`, the development IdP has the endpoint): the request is
/// pushed, and the login completes.
#[rocket::async_test]
async fn by_default_the_request_is_pushed_to_the_dev_idp_and_the_login_completes() {
    let dev = start_with(|f| f.merge(("oidc.par", "auto"))).await;
    let login = query(&dev.login_url().await);
    assert!(
        login.contains_key("request_uri") && !login.contains_key("nonce"),
        "{login:?}"
    );
    dev.login_as_alice().await;
    assert_eq!(dev.call_api().await.status().code, 200);
}
