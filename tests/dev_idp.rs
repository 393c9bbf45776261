//! The built-in development identity provider (feature `dev-idp`, debug builds): the app built
//! without an issuer starts it on a free port; the app runs in process (`rocket::local`) and
//! the IdP is driven over real HTTP, as a browser would (and as the app's server does for the
//! token endpoint, UserInfo and revocation).
#![cfg(all(feature = "dev-idp", debug_assertions))]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use oidc_bff::local_idp::DEFAULT_CLIENT_SECRET;
use oidc_bff::store::{MemoryStore, Store};
use openidconnect::reqwest;
use rocket::figment::Figment;
use rocket::http::{ContentType, Header};
use rocket::local::asynchronous::{Client, LocalResponse};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const APP: &str = "http://localhost:3000";
const BANNER: &str = "Development identity provider — not for production";
const CLIENT_ID: &str = "oidc-bff-dev";
const REDIRECT_URI: &str = "http://localhost:3000/callback";
const ALICE: &str = "dev-7f3a1c2e-alice";
/// A PKCE pair (RFC 7636 Appendix B) for requests the tests make themselves.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The app with no issuer configured, and the development IdP it started.
struct DevApp {
    app: Client,
    /// `http://127.0.0.1:<port>`
    idp: String,
    http: reqwest::Client,
    /// The app's store, to read the tokens it keeps for a session.
    store: Arc<RecordingStore>,
}

/// The app's `MemoryStore`, remembering which keys were written (it cannot be listed).
#[derive(Default)]
struct RecordingStore {
    inner: MemoryStore,
    keys: Mutex<Vec<String>>,
}

#[rocket::async_trait]
impl Store for RecordingStore {
    async fn record_once(&self, key: &str, ttl: Duration) -> bool {
        self.inner.record_once(key, ttl).await
    }

    async fn contains(&self, key: &str) -> bool {
        self.inner.contains(key).await
    }

    async fn put(&self, key: &str, value: String, ttl: Duration) -> bool {
        self.keys.lock().unwrap().push(key.to_string());
        self.inner.put(key, value, ttl).await
    }

    async fn get(&self, key: &str) -> Option<String> {
        self.inner.get(key).await
    }

    async fn remove(&self, key: &str) {
        self.inner.remove(key).await
    }
}

impl RecordingStore {
    /// The tokens the app keeps for its (only) code-flow session, as JSON.
    async fn session_tokens(&self) -> Option<Value> {
        let keys = self.keys.lock().unwrap().clone();
        let key = keys.iter().rev().find(|k| k.starts_with("tokens:"))?;
        serde_json::from_str(&self.inner.get(key).await?).ok()
    }
}

/// What a client posts to the token or revocation endpoint to authenticate.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Basic(&'a str, &'a str),
    Post(&'a str, &'a str),
    None,
}

/// A back-channel answer: status, the headers that matter, JSON body (`Null` when empty).
#[derive(Debug)]
struct Answer {
    status: u16,
    cache_control: Option<String>,
    www_authenticate: Option<String>,
    json: Value,
}

/// A page of the IdP as the browser gets it.
struct IdpPage {
    status: u16,
    location: Option<String>,
    set_cookie: Vec<String>,
    csp: Option<String>,
    body: String,
}

/// Rocket's figment as the tests use it, without `oidc.issuer`, the IdP on `port`.
fn figment_without_issuer(port: u16) -> Figment {
    rocket::Config::figment()
        .merge(("log_level", "off"))
        .merge(("secret_key", vec![7u8; 64]))
        .merge(("oidc.base_url", APP))
        .merge(("oidc.dev_idp_port", port))
}

async fn start() -> DevApp {
    start_with(|f| f).await
}

/// The app (and its IdP) with some settings changed, e.g. `oidc.response_type`.
async fn start_with(customize: impl FnOnce(Figment) -> Figment) -> DevApp {
    let port = free_port();
    let store = Arc::new(RecordingStore::default());
    let rocket = oidc_bff::build_with_store(customize(figment_without_issuer(port)), store.clone())
        .expect("config without issuer");
    let app = Client::tracked(rocket)
        .await
        .expect("the app ignites and starts the development IdP");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client");
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
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

    /// A valid authentication request, as the app would send it, with some parameters changed
    /// (`None` removes one).
    fn authorize_url(&self, changes: &[(&str, Option<&str>)]) -> String {
        let mut params: Vec<(String, String)> = [
            ("client_id", "oidc-bff-dev"),
            ("redirect_uri", "http://localhost:3000/callback"),
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
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        format!("{}/authorize?{query}", self.idp)
    }

    async fn get(&self, url: &str, cookie: Option<&str>) -> IdpPage {
        let mut request = self.http.get(url);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        page(request.send().await.expect("IdP reachable")).await
    }

    async fn post_form(&self, url: &str, fields: &[(String, String)]) -> IdpPage {
        let response = self
            .http
            .post(url)
            .form(fields)
            .send()
            .await
            .expect("IdP reachable");
        page(response).await
    }

    /// Submits the sign-in page's form with these credentials (or `action=cancel`).
    async fn submit_sign_in(&self, sign_in: &IdpPage, fields: &[(&str, &str)]) -> IdpPage {
        let mut form = hidden_fields(&sign_in.body);
        form.extend(fields.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        self.post_form(&format!("{}/authorize", self.idp), &form)
            .await
    }

    /// What the browser posts to the app's `/callback` from a form_post page.
    async fn post_callback(&self, form_post: &IdpPage) -> LocalResponse<'_> {
        assert_eq!(
            form_action(&form_post.body).as_deref(),
            Some("http://localhost:3000/callback")
        );
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(hidden_fields(&form_post.body))
            .finish();
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

    /// A fresh code for the tests' own PKCE pair, issued to alice (signing in if `cookie`
    /// holds no IdP session); returns the code and the IdP session cookie.
    async fn code_for_alice(&self, cookie: Option<&str>) -> (String, String) {
        let url = self.authorize_url(&[
            ("response_type", Some("code")),
            ("code_challenge", Some(CHALLENGE)),
            ("code_challenge_method", Some("S256")),
        ]);
        let mut page = self.get(&url, cookie).await;
        let mut cookie = cookie.map(str::to_string);
        if page.body.contains(r#"id="password""#) {
            page = self
                .submit_sign_in(&page, &[("username", "alice"), ("password", "alice")])
                .await;
            cookie = idp_cookie(&page);
        }
        assert!(field(&page.body, "id_token").is_none(), "code flow");
        let code = field(&page.body, "code").expect("code in the form_post");
        (code, cookie.expect("IdP session"))
    }

    /// A form POST to one of the IdP's back-channel endpoints.
    async fn back_channel(&self, path: &str, auth: Auth<'_>, form: &[(&str, &str)]) -> Answer {
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        let mut request = self.http.post(format!("{}{path}", self.idp));
        match auth {
            Auth::Basic(id, secret) => request = request.basic_auth(id, Some(secret)),
            Auth::Post(id, secret) => {
                fields.push(("client_id", id));
                fields.push(("client_secret", secret));
            }
            Auth::None => {}
        }
        answer(request.form(&fields).send().await.expect("IdP reachable")).await
    }

    async fn token(&self, form: &[(&str, &str)]) -> Answer {
        self.back_channel(
            "/token",
            Auth::Basic(CLIENT_ID, DEFAULT_CLIENT_SECRET),
            form,
        )
        .await
    }

    async fn redeem(&self, code: &str, verifier: &str) -> Answer {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ])
        .await
    }

    async fn refresh(&self, refresh_token: &str) -> Answer {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
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
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let cache_control = header("cache-control");
    let www_authenticate = header("www-authenticate");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    Answer {
        status,
        cache_control,
        www_authenticate,
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

async fn page(response: reqwest::Response) -> IdpPage {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let location = header("location");
    let csp = header("content-security-policy");
    let set_cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let status = response.status().as_u16();
    IdpPage {
        status,
        location,
        set_cookie,
        csp,
        body: response.text().await.unwrap_or_default(),
    }
}

/// `devidp_session=<value>` from a page's `Set-Cookie`, ready for a `Cookie` header.
fn idp_cookie(page: &IdpPage) -> Option<String> {
    page.set_cookie
        .iter()
        .find(|c| c.starts_with("devidp_session="))
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The hidden inputs of a page, in order.
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split(r#"<input type="hidden" name=""#)
        .skip(1)
        .filter_map(|rest| {
            let (name, rest) = rest.split_once(r#"" value=""#)?;
            let (value, _) = rest.split_once('"')?;
            Some((unescape(name), unescape(value)))
        })
        .collect()
}

fn field(html: &str, name: &str) -> Option<String> {
    hidden_fields(html)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

fn form_action(html: &str) -> Option<String> {
    let rest = html.split(r#"<form method="post" action=""#).nth(1)?;
    Some(unescape(rest.split_once('"')?.0))
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
async fn discovery_and_keys_describe_a_form_post_provider_with_code_and_id_token() {
    let dev = start().await;
    let response = dev
        .http
        .get(format!("{}/.well-known/openid-configuration", dev.idp))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let doc: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(doc["issuer"], dev.idp);
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{}/authorize", dev.idp)
    );
    assert_eq!(doc["jwks_uri"], format!("{}/jwks", dev.idp));
    assert_eq!(
        doc["end_session_endpoint"],
        format!("{}/end_session", dev.idp)
    );
    assert_eq!(
        doc["response_types_supported"],
        json!(["id_token", "code", "code id_token"])
    );
    assert_eq!(doc["token_endpoint"], format!("{}/token", dev.idp));
    assert_eq!(doc["userinfo_endpoint"], format!("{}/userinfo", dev.idp));
    assert_eq!(doc["revocation_endpoint"], format!("{}/revoke", dev.idp));
    let auth_methods = json!(["client_secret_basic", "client_secret_post"]);
    assert_eq!(doc["token_endpoint_auth_methods_supported"], auth_methods);
    assert_eq!(
        doc["revocation_endpoint_auth_methods_supported"],
        auth_methods
    );
    assert_eq!(
        doc["grant_types_supported"],
        json!(["authorization_code", "implicit", "refresh_token"])
    );
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        doc["response_modes_supported"],
        serde_json::json!(["form_post"])
    );
    assert_eq!(
        doc["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    assert!(doc["scopes_supported"]
        .as_array()
        .unwrap()
        .contains(&"openid".into()));
    assert!(doc["claims_supported"]
        .as_array()
        .unwrap()
        .contains(&"email".into()));

    let jwks = dev.get(&format!("{}/jwks", dev.idp), None).await;
    let jwks: Value = serde_json::from_str(&jwks.body).unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "RSA");
    assert!(keys[0]["kid"]
        .as_str()
        .is_some_and(|k| k.starts_with("dev-")));
    assert!(keys[0].get("d").is_none(), "no private part is published");
}

#[rocket::async_test]
async fn an_unknown_client_id_gets_an_error_page_at_the_idp_and_no_redirect() {
    let dev = start().await;
    for client_id in [Some("someone-else"), None] {
        let page = dev
            .get(&dev.authorize_url(&[("client_id", client_id)]), None)
            .await;
        assert_eq!(page.status, 400);
        assert!(page.location.is_none());
        assert!(page.body.contains(BANNER));
        assert!(page.body.contains("client_id"), "{}", page.body);
        assert!(
            form_action(&page.body).is_none(),
            "nothing is posted anywhere"
        );
    }
}

#[rocket::async_test]
async fn an_unregistered_redirect_uri_gets_an_error_page_at_the_idp_and_no_redirect() {
    let dev = start().await;
    for redirect_uri in [
        "https://evil.example/callback",
        "http://localhost:3000/callback/",
        "http://localhost:3000/other",
    ] {
        // Even with another error that would otherwise be sent back to the client.
        let page = dev
            .get(
                &dev.authorize_url(&[
                    ("redirect_uri", Some(redirect_uri)),
                    ("response_type", Some("code")),
                ]),
                None,
            )
            .await;
        assert_eq!(page.status, 400, "{redirect_uri}");
        assert!(page.location.is_none());
        assert!(page.body.contains("redirect_uri"));
        assert!(!page.body.contains("evil.example/callback\" "));
        assert!(
            form_action(&page.body).is_none(),
            "nothing is posted anywhere"
        );
    }
}

#[rocket::async_test]
async fn an_unsupported_response_type_is_posted_back_to_the_app_with_the_state() {
    let dev = start().await;
    let page = dev
        .get(
            &dev.authorize_url(&[("response_type", Some("token"))]),
            None,
        )
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(
        form_action(&page.body).as_deref(),
        Some("http://localhost:3000/callback")
    );
    assert_eq!(
        field(&page.body, "error").as_deref(),
        Some("unsupported_response_type")
    );
    assert!(field(&page.body, "error_description").is_some());
    assert_eq!(field(&page.body, "state").as_deref(), Some("state-123"));
    assert!(field(&page.body, "id_token").is_none());
}

#[rocket::async_test]
async fn a_missing_nonce_openid_scope_or_pkce_challenge_is_posted_back_as_an_error() {
    let dev = start().await;
    for (changes, expected) in [
        (vec![("nonce", None)], "invalid_request"),
        (vec![("scope", Some("profile email"))], "invalid_scope"),
        (vec![("response_mode", Some("fragment"))], "invalid_request"),
        // A code needs PKCE with S256.
        (vec![("response_type", Some("code"))], "invalid_request"),
        (
            vec![
                ("response_type", Some("code id_token")),
                ("code_challenge", Some(CHALLENGE)),
                ("code_challenge_method", Some("plain")),
            ],
            "invalid_request",
        ),
    ] {
        let page = dev.get(&dev.authorize_url(&changes), None).await;
        assert_eq!(
            field(&page.body, "error").as_deref(),
            Some(expected),
            "{changes:?}"
        );
        assert_eq!(field(&page.body, "state").as_deref(), Some("state-123"));
    }
}

#[rocket::async_test]
async fn the_sign_in_page_lists_the_demo_accounts_with_their_passwords() {
    let dev = start().await;
    let page = dev.get(&dev.authorize_url(&[]), None).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(BANNER));
    for id in [
        r#"id="username""#,
        r#"id="password""#,
        r#"id="sign-in""#,
        r#"id="cancel""#,
    ] {
        assert!(page.body.contains(id), "{id}");
    }
    for (user, name) in [
        ("alice", "Alice Liddell"),
        ("bob", "Bob Builder"),
        ("carol", "Carol Danvers"),
    ] {
        assert!(page.body.contains(name));
        assert!(page.body.contains(&format!("password <code>{user}</code>")));
    }
    assert!(
        !page.body.contains("https://"),
        "nothing is loaded from the internet"
    );
    assert!(!page.body.contains("<script>"), "no inline script");
    let csp = page.csp.expect("Content-Security-Policy");
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
}

#[rocket::async_test]
async fn a_wrong_password_is_refused_and_the_form_shown_again() {
    let dev = start().await;
    let sign_in = dev.get(&dev.login_url().await, None).await;
    for (username, password) in [("alice", "bob"), ("alice", ""), ("mallory", "mallory")] {
        let page = dev
            .submit_sign_in(&sign_in, &[("username", username), ("password", password)])
            .await;
        assert!(page.body.contains(r#"id="error""#), "{username}/{password}");
        assert!(page.body.contains(r#"id="password""#));
        assert!(field(&page.body, "id_token").is_none());
        assert!(idp_cookie(&page).is_none(), "no IdP session");
    }
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
async fn cancel_sends_access_denied_back_to_the_app() {
    let dev = start().await;
    let sign_in = dev.get(&dev.login_url().await, None).await;
    let page = dev.submit_sign_in(&sign_in, &[("action", "cancel")]).await;
    assert_eq!(field(&page.body, "error").as_deref(), Some("access_denied"));
    let callback = dev.post_callback(&page).await;
    assert_eq!(callback.status().code, 401);
    assert!(dev.app.cookies().get("bff_session").is_none());
}

#[rocket::async_test]
async fn a_second_login_in_the_idp_session_skips_the_password_unless_prompt_login() {
    let dev = start().await;
    let (cookie, _) = dev.login_as_alice().await;
    let again = dev.get(&dev.login_url().await, Some(&cookie)).await;
    assert!(!again.body.contains(r#"id="password""#));
    assert!(field(&again.body, "id_token").is_some());
    let callback = dev.post_callback(&again).await;
    assert_eq!(callback.status().code, 303);

    let forced = dev
        .get(
            &dev.authorize_url(&[("prompt", Some("login"))]),
            Some(&cookie),
        )
        .await;
    assert!(forced.body.contains(r#"id="password""#));
    let silent = dev
        .get(&dev.authorize_url(&[("prompt", Some("none"))]), None)
        .await;
    assert_eq!(
        field(&silent.body, "error").as_deref(),
        Some("login_required")
    );
}

#[rocket::async_test]
async fn end_session_redirects_only_to_the_registered_uri() {
    let dev = start().await;
    let (cookie, id_token) = dev.login_as_alice().await;
    let end_session = format!("{}/end_session", dev.idp);
    let url = |params: &[(&str, &str)]| {
        format!(
            "{end_session}?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish()
        )
    };

    for wrong in [
        "https://evil.example/",
        "http://localhost:3000",
        "http://localhost:3000/callback",
    ] {
        let page = dev
            .get(
                &url(&[
                    ("client_id", "oidc-bff-dev"),
                    ("post_logout_redirect_uri", wrong),
                ]),
                Some(&cookie),
            )
            .await;
        assert_eq!(page.status, 400, "{wrong}");
        assert!(page.location.is_none());
    }
    let forged = format!("{}.e30.c2ln", id_token.split('.').next().unwrap());
    let page = dev
        .get(
            &url(&[
                ("id_token_hint", &forged),
                ("post_logout_redirect_uri", "http://localhost:3000/"),
            ]),
            Some(&cookie),
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none());
    // None of the refused requests ended the IdP session.
    let still = dev.get(&dev.authorize_url(&[]), Some(&cookie)).await;
    assert!(field(&still.body, "id_token").is_some());

    // The app's own logout goes there with client_id, post_logout_redirect_uri and the hint.
    let logout = dev.app.post("/logout").dispatch().await;
    let location = logout.headers().get_one("Location").unwrap().to_string();
    assert!(location.starts_with(&end_session), "{location}");
    assert!(query(&location).contains_key("id_token_hint"));
    let location = format!("{location}&state=bye");
    let page = dev.get(&location, Some(&cookie)).await;
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
    let next = dev.get(&dev.authorize_url(&[]), Some(&cookie)).await;
    assert!(next.body.contains(r#"id="password""#));
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
    let expires_in = tokens["expires_at"].as_i64().unwrap() - oidc_bff::clock::now();
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
async fn the_token_endpoint_redeems_a_code_once_with_its_verifier_for_tokens() {
    let dev = start().await;
    let (code, _) = dev.code_for_alice(None).await;
    let answer = dev.redeem(&code, VERIFIER).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
    let tokens = answer.json;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 300);
    assert_eq!(tokens["scope"], "openid profile email");
    let access_token = text_of(&tokens, "access_token");
    assert!(access_token.len() >= 43);
    assert_ne!(text_of(&tokens, "refresh_token"), access_token);
    let claims = claims(&text_of(&tokens, "id_token"));
    assert_eq!(claims["at_hash"], half_hash(&access_token));
    assert_eq!(claims["nonce"], "nonce-456");
    assert_eq!(claims["iss"], dev.idp);
    assert_eq!(claims["aud"], json!([CLIENT_ID]));
    assert_eq!(claims["name"], "Alice Liddell");
    assert_eq!(claims["email"], "alice@example.com");
    let userinfo = dev.userinfo(&access_token).await;
    assert_eq!(userinfo.status, 200);
    assert_eq!(userinfo.json["sub"], ALICE);
}

#[rocket::async_test]
async fn client_secret_post_authenticates_too() {
    let dev = start().await;
    let (code, _) = dev.code_for_alice(None).await;
    let answer = dev
        .back_channel(
            "/token",
            Auth::Post(CLIENT_ID, DEFAULT_CLIENT_SECRET),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.json["access_token"].is_string());
}

#[rocket::async_test]
async fn a_wrong_secret_or_no_client_authentication_is_an_invalid_client() {
    let dev = start().await;
    let (code, _) = dev.code_for_alice(None).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", VERIFIER),
    ];
    for auth in [
        Auth::Basic(CLIENT_ID, "wrong"),
        Auth::Basic("someone-else", DEFAULT_CLIENT_SECRET),
        Auth::Post(CLIENT_ID, "wrong"),
        Auth::None,
    ] {
        let answer = dev.back_channel("/token", auth, &form).await;
        assert_eq!(answer.status, 401);
        assert_eq!(answer.json["error"], "invalid_client");
        assert!(answer
            .www_authenticate
            .as_deref()
            .is_some_and(|w| w.starts_with("Basic ")));
        assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
    }
    // An unauthenticated attempt does not spend the code.
    assert_eq!(dev.redeem(&code, VERIFIER).await.status, 200);
}

#[rocket::async_test]
async fn a_wrong_verifier_or_redirect_uri_is_an_invalid_grant_and_spends_the_code() {
    let dev = start().await;
    let (code, cookie) = dev.code_for_alice(None).await;
    let other_verifier = "a-verifier-that-is-long-enough-but-not-the-right-one-0123";
    let answer = dev.redeem(&code, other_verifier).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json["error"], "invalid_grant");
    assert!(answer.json["error_description"].is_string());
    assert_eq!(
        dev.redeem(&code, VERIFIER).await.json["error"],
        "invalid_grant"
    );

    let (code, _) = dev.code_for_alice(Some(&cookie)).await;
    let answer = dev
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://localhost:3000/elsewhere"),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_eq!(answer.json["error"], "invalid_grant");

    let (code, _) = dev.code_for_alice(Some(&cookie)).await;
    let answer = dev
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
        ])
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json["error"], "invalid_request", "no code_verifier");
}

#[rocket::async_test]
async fn a_reused_code_is_refused_and_revokes_the_tokens_of_its_first_use() {
    let dev = start().await;
    let (code, _) = dev.code_for_alice(None).await;
    let first = dev.redeem(&code, VERIFIER).await.json;
    let access_token = text_of(&first, "access_token");
    assert_eq!(dev.userinfo(&access_token).await.status, 200);
    let again = dev.redeem(&code, VERIFIER).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.json["error"], "invalid_grant");
    assert_eq!(dev.userinfo(&access_token).await.status, 401);
    let refresh = dev.refresh(&text_of(&first, "refresh_token")).await;
    assert_eq!(refresh.json["error"], "invalid_grant");
}

#[rocket::async_test]
async fn other_grant_types_and_malformed_requests_are_refused() {
    let dev = start().await;
    let other = dev.token(&[("grant_type", "client_credentials")]).await;
    assert_eq!(other.status, 400);
    assert_eq!(other.json["error"], "unsupported_grant_type");
    for form in [
        vec![],
        vec![("grant_type", "authorization_code")],
        vec![("grant_type", "refresh_token")],
        vec![
            ("grant_type", "refresh_token"),
            ("grant_type", "refresh_token"),
        ],
    ] {
        let refused = dev.token(&form).await;
        assert_eq!(refused.status, 400, "{form:?}");
        assert_eq!(refused.json["error"], "invalid_request", "{form:?}");
    }
    let guessed = dev
        .token(&[("grant_type", "refresh_token"), ("refresh_token", "guess")])
        .await;
    assert_eq!(guessed.json["error"], "invalid_grant");
    // Basic and client_secret at once: two authentication methods.
    let twice = dev
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_secret", DEFAULT_CLIENT_SECRET),
        ])
        .await;
    assert_eq!(twice.json["error"], "invalid_request");
    // A JSON body is not a token request.
    let response = dev
        .http
        .post(format!("{}/token", dev.idp))
        .basic_auth(CLIENT_ID, Some(DEFAULT_CLIENT_SECRET))
        .header("content-type", "application/json")
        .body(json!({"grant_type": "refresh_token"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer(response).await.json["error"], "invalid_request");
}

#[rocket::async_test]
async fn refresh_rotates_the_refresh_token_and_issues_a_new_access_token() {
    let dev = start().await;
    let (code, _) = dev.code_for_alice(None).await;
    let first = dev.redeem(&code, VERIFIER).await.json;
    let refreshed = dev.refresh(&text_of(&first, "refresh_token")).await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    assert_eq!(refreshed.cache_control.as_deref(), Some("no-store"));
    let second = refreshed.json;
    assert_eq!(second["token_type"], "Bearer");
    assert_ne!(second["access_token"], first["access_token"]);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    let userinfo = dev.userinfo(&text_of(&second, "access_token")).await;
    assert_eq!(userinfo.json["sub"], ALICE);
    // The old refresh token is spent; the new one works once.
    let old = dev.refresh(&text_of(&first, "refresh_token")).await;
    assert_eq!(old.status, 400);
    assert_eq!(old.json["error"], "invalid_grant");
    let third = dev.refresh(&text_of(&second, "refresh_token")).await.json;
    assert!(third["refresh_token"].is_string());
    let again = dev.refresh(&text_of(&second, "refresh_token")).await;
    assert_eq!(again.json["error"], "invalid_grant");
    // A narrower scope is allowed for the access token, a wider one is not.
    let wider = dev
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &text_of(&third, "refresh_token")),
            ("scope", "openid phone"),
        ])
        .await;
    assert_eq!(wider.status, 400);
    assert_eq!(wider.json["error"], "invalid_scope");
    let narrower = dev
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &text_of(&third, "refresh_token")),
            ("scope", "openid"),
        ])
        .await;
    assert_eq!(narrower.json["scope"], "openid");
    let userinfo = dev.userinfo(&text_of(&narrower.json, "access_token")).await;
    assert_eq!(userinfo.json, json!({"sub": ALICE}));
}

#[rocket::async_test]
async fn userinfo_needs_a_valid_bearer_token_and_answers_per_scope() {
    let dev = start_with(|f| f.merge(("oidc.dev_idp_access_token_ttl", 1))).await;
    let url = dev.authorize_url(&[
        ("response_type", Some("code")),
        ("scope", Some("openid email")),
        ("code_challenge", Some(CHALLENGE)),
        ("code_challenge_method", Some("S256")),
    ]);
    let sign_in = dev.get(&url, None).await;
    let form_post = dev
        .submit_sign_in(&sign_in, &[("username", "bob"), ("password", "bob")])
        .await;
    let code = field(&form_post.body, "code").unwrap();
    let tokens = dev.redeem(&code, VERIFIER).await.json;
    assert_eq!(tokens["expires_in"], 1, "DEV_IDP_ACCESS_TOKEN_TTL");
    let access_token = text_of(&tokens, "access_token");
    let userinfo = dev.userinfo(&access_token).await;
    assert_eq!(
        userinfo.json,
        json!({"sub": "dev-5b9e0d41-bob", "email": "bob@example.com", "email_verified": true})
    );
    // By POST, with the token in the body (RFC 6750 §2.2).
    let response = dev
        .http
        .post(format!("{}/userinfo", dev.idp))
        .form(&[("access_token", access_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer(response).await.json["sub"], "dev-5b9e0d41-bob");

    let missing = answer(
        dev.http
            .get(format!("{}/userinfo", dev.idp))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(missing.status, 401);
    let challenge = missing.www_authenticate.unwrap();
    assert!(challenge.starts_with("Bearer") && !challenge.contains("error="));
    for token in ["guess", text_of(&tokens, "refresh_token").as_str()] {
        let refused = dev.userinfo(token).await;
        assert_eq!(refused.status, 401);
        assert!(refused
            .www_authenticate
            .unwrap()
            .starts_with(r#"Bearer error="invalid_token""#));
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = dev.userinfo(&access_token).await;
    assert_eq!(expired.status, 401, "expired after 1 s");
}

#[rocket::async_test]
async fn revocation_needs_the_client_and_a_refresh_token_takes_its_access_tokens_along() {
    let dev = start().await;
    let (code, _) = dev.code_for_alice(None).await;
    let tokens = dev.redeem(&code, VERIFIER).await.json;
    let access_token = text_of(&tokens, "access_token");
    let refresh_token = text_of(&tokens, "refresh_token");
    let unauthenticated = dev
        .back_channel("/revoke", Auth::None, &[("token", &refresh_token)])
        .await;
    assert_eq!(unauthenticated.status, 401);
    assert_eq!(unauthenticated.json["error"], "invalid_client");
    let basic = Auth::Basic(CLIENT_ID, DEFAULT_CLIENT_SECRET);
    let unknown = dev
        .back_channel("/revoke", basic, &[("token", "never-issued")])
        .await;
    assert_eq!(unknown.status, 200, "unknown tokens are fine (RFC 7009)");
    let missing = dev.back_channel("/revoke", basic, &[]).await;
    assert_eq!(missing.json["error"], "invalid_request");
    assert_eq!(dev.userinfo(&access_token).await.status, 200);
    let revoked = dev
        .back_channel(
            "/revoke",
            Auth::Post(CLIENT_ID, DEFAULT_CLIENT_SECRET),
            &[
                ("token", &refresh_token),
                ("token_type_hint", "refresh_token"),
            ],
        )
        .await;
    assert_eq!(revoked.status, 200);
    assert_eq!(dev.userinfo(&access_token).await.status, 401);
    assert_eq!(
        dev.refresh(&refresh_token).await.json["error"],
        "invalid_grant"
    );
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
