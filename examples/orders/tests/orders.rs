//! The example host app's own `GET /api/orders` behind the BFF's session: logged in it answers
//! the user's orders; without a session, after logout, or with a tampered cookie it refuses,
//! exactly as the BFF's built-in API does. Logins go through the development IdP, which the
//! BFF starts because no issuer is configured.

use dev_idp::testing::{self, free_port};
use rocket::figment::Figment;
use rocket::http::{Cookie, Header};
use rocket::local::asynchronous::{Client, LocalResponse};
use serde_json::Value;

const SESSION_COOKIE: &str = "bff_session";
/// The development IdP's `sub` for the demo account alice.
const ALICE: &str = "dev-7f3a1c2e-alice";

/// The example app, with no issuer: the BFF starts the development IdP on a free port.
async fn example_app() -> Client {
    let figment = Figment::from(rocket::Config::debug_default())
        .merge(("log_level", "off"))
        .merge(("secret_key", vec![9u8; 64]))
        .merge(("oidc.base_url", "http://localhost:3000"))
        // Tests run side by side; the default store file is one per working directory.
        .merge(("oidc.store", "memory"))
        .merge(("oidc.dev_idp_port", free_port()));
    Client::tracked(orders_example::app(figment))
        .await
        .expect("the example ignites")
}

/// Logs in as alice the way a browser would: `/login`, the IdP's sign-in form, and the
/// IdP's form_post back to `/callback`. The tracked client keeps the session cookie.
async fn log_in_as_alice(app: &Client) {
    let (status, _) = log_in_as(app, "alice").await;
    assert_eq!(status, 303, "the BFF accepts the login");
}

/// Logs in as `username` (the password is the same at the development IdP): the callback's
/// status and page.
async fn log_in_as(app: &Client, username: &str) -> (u16, String) {
    let login = app.get("/login").dispatch().await;
    assert_eq!(
        login.status().code,
        302,
        "/login sends the browser to the IdP"
    );
    let authorize = login
        .headers()
        .get_one("Location")
        .expect("Location")
        .to_string();
    let idp = testing::http_client();
    let issuer = authorize
        .split("/authorize")
        .next()
        .expect("authorize URL")
        .to_string();
    let (form_post, _) = testing::sign_in(&idp, &issuer, &authorize, username, None).await;
    assert_eq!(
        form_post.status, 200,
        "the IdP answers with its form_post page"
    );
    let body = form_post.form_post_body();
    let callback = app
        .post("/callback")
        .header(rocket::http::ContentType::Form)
        .body(body)
        .dispatch()
        .await;
    let status = callback.status().code;
    (status, callback.into_string().await.unwrap_or_default())
}

/// `GET /api/orders` as the page's script fetches it.
async fn fetch_orders(app: &Client) -> LocalResponse<'_> {
    app.get("/api/orders")
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .header(Header::new("Sec-Fetch-Dest", "empty"))
        .dispatch()
        .await
}

async fn json(response: LocalResponse<'_>) -> Value {
    serde_json::from_str(&response.into_string().await.unwrap_or_default()).expect("JSON body")
}

#[rocket::async_test]
async fn logged_in_the_orders_answer_is_the_users_own() {
    let app = example_app().await;
    log_in_as_alice(&app).await;
    let response = fetch_orders(&app).await;
    assert_eq!(response.status().code, 200);
    assert_eq!(
        response.headers().get_one("Cache-Control"),
        Some("no-store"),
        "personal data is never cached"
    );
    let body = json(response).await;
    assert_eq!(body["sub"], ALICE);
    assert_eq!(body["orders"].as_array().map(Vec::len), Some(2), "{body}");
}

#[rocket::async_test]
async fn without_a_session_a_script_gets_401_json_and_a_navigation_a_redirect_to_login() {
    let app = example_app().await;
    let response = fetch_orders(&app).await;
    assert_eq!(response.status().code, 401);
    assert_eq!(json(response).await["error"], "login_required");

    let navigation = app
        .get("/api/orders")
        .header(Header::new("Sec-Fetch-Mode", "navigate"))
        .header(Header::new("Sec-Fetch-Dest", "document"))
        .dispatch()
        .await;
    assert_eq!(navigation.status().code, 302);
    let location = navigation.headers().get_one("Location").unwrap_or_default();
    assert!(
        location.starts_with("/login"),
        "a navigation is sent to log in, got {location}"
    );
}

#[rocket::async_test]
async fn after_logout_the_same_cookie_no_longer_gets_the_orders() {
    let app = example_app().await;
    log_in_as_alice(&app).await;
    let cookie = app
        .cookies()
        .get(SESSION_COOKIE)
        .expect("a session cookie")
        .value()
        .to_string();
    let logout = app
        .post("/logout")
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert_eq!(logout.status().code, 303);
    // The browser would have dropped the cookie; a copy of it is refused too.
    let replay = app
        .get("/api/orders")
        .cookie(Cookie::new(SESSION_COOKIE, cookie))
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .dispatch()
        .await;
    assert_eq!(replay.status().code, 401);
}

#[rocket::async_test]
async fn a_tampered_session_cookie_is_no_session() {
    let app = example_app().await;
    log_in_as_alice(&app).await;
    let cookie = app
        .cookies()
        .get(SESSION_COOKIE)
        .expect("a session cookie")
        .value()
        .to_string();
    // Flip one character in the middle of the encrypted value.
    let mut tampered = cookie.into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ASCII cookie");
    let response = app
        .get("/api/orders")
        .cookie(Cookie::new(SESSION_COOKIE, tampered))
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 401);
}

#[rocket::async_test]
async fn placing_an_order_needs_the_csrf_header_and_the_same_origin() {
    let app = example_app().await;
    log_in_as_alice(&app).await;
    let post = |headers: &'static [(&'static str, &'static str)]| {
        let mut request = app.post("/api/orders");
        for (name, value) in headers {
            request = request.header(Header::new(*name, *value));
        }
        request.dispatch()
    };
    assert_eq!(
        post(&[("Sec-Fetch-Site", "same-origin")])
            .await
            .status()
            .code,
        403
    );
    assert_eq!(
        post(&[("X-CSRF", "1"), ("Sec-Fetch-Site", "cross-site")])
            .await
            .status()
            .code,
        403
    );
    let placed = post(&[("X-CSRF", "1"), ("Sec-Fetch-Site", "same-origin")]).await;
    assert_eq!(placed.status().code, 201);
    assert_eq!(json(placed).await["sub"], ALICE);
}

#[rocket::async_test]
async fn the_login_hook_puts_the_customer_number_in_the_session() {
    let app = example_app().await;
    log_in_as_alice(&app).await;
    let body = json(fetch_orders(&app).await).await;
    assert_eq!(body["customer"], "C-1001", "{body}");
}

#[rocket::async_test]
async fn an_account_the_shop_does_not_know_is_refused_by_its_login_hook() {
    let app = example_app().await;
    let (status, page) = log_in_as(&app, "carol").await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("only its customers"), "{page}");
    assert_eq!(fetch_orders(&app).await.status().code, 401, "no session");
}

/// `GET /api/orders/all` as the page's script fetches it.
async fn fetch_all(app: &Client) -> LocalResponse<'_> {
    app.get("/api/orders/all")
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .dispatch()
        .await
}

#[rocket::async_test]
async fn only_staff_see_every_customers_orders() {
    let staff = example_app().await;
    log_in_as_alice(&staff).await;
    assert_eq!(fetch_all(&staff).await.status().code, 200);
    let customer = example_app().await;
    let (status, _) = log_in_as(&customer, "bob").await;
    assert_eq!(status, 303);
    let refused = fetch_all(&customer).await;
    assert_eq!(refused.status().code, 403);
    assert_eq!(json(refused).await["error"], "forbidden");
}
