//! The built-in development identity provider (feature `dev-idp`, debug builds): the app built
//! without an issuer starts it on a free port; the app runs in process (`rocket::local`) and
//! the IdP is driven over real HTTP, as a browser would.
#![cfg(all(feature = "dev-idp", debug_assertions))]

use std::collections::HashMap;

use base64::Engine;
use openidconnect::reqwest;
use rocket::figment::Figment;
use rocket::http::{ContentType, Header};
use rocket::local::asynchronous::{Client, LocalResponse};
use serde_json::Value;

const APP: &str = "http://localhost:3000";
const BANNER: &str = "Development identity provider — not for production";

/// The app with no issuer configured, and the development IdP it started.
struct DevApp {
    app: Client,
    /// `http://127.0.0.1:<port>`
    idp: String,
    http: reqwest::Client,
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
    let port = free_port();
    let rocket = oidc_bff::build_from(figment_without_issuer(port)).expect("config without issuer");
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
    }
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
        self.app
            .get("/api/hello")
            .header(Header::new("Sec-Fetch-Mode", "cors"))
            .header(Header::new("Sec-Fetch-Dest", "empty"))
            .dispatch()
            .await
    }
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
async fn discovery_and_keys_describe_an_id_token_form_post_provider() {
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
        serde_json::json!(["id_token"])
    );
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
    assert!(doc.get("token_endpoint").is_none());

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
        .get(&dev.authorize_url(&[("response_type", Some("code"))]), None)
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
async fn a_missing_nonce_or_openid_scope_is_posted_back_as_an_error() {
    let dev = start().await;
    for (changes, expected) in [
        (vec![("nonce", None)], "invalid_request"),
        (vec![("scope", Some("profile email"))], "invalid_scope"),
        (vec![("response_mode", Some("fragment"))], "invalid_request"),
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
