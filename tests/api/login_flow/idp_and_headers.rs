//! An IdP that is down (503, then recovery without a restart) or that names another issuer;
//! the security headers on every page (a policy that loads nothing on every other answer),
//! HSTS only for an https base URL.

use rocket::http::Header;
use rocket::serde::json::json;

use crate::helpers;
use crate::helpers::{app, app_with_idp, text};

#[rocket::async_test]
async fn login_shows_503_while_the_idp_is_down_and_recovers_without_restart() {
    let app = app_with_idp(|idp| idp.set_available(false), |f| f).await;
    let response = app.client.get("/login").dispatch().await;
    assert_eq!(response.status().code, 503);
    assert!(text(response).await.contains("Try again"));
    app.idp.set_available(true);
    // The app paces its discovery retries: wait for the next one to succeed.
    helpers::wait_until(
        std::time::Duration::from_secs(5),
        "/login works again",
        || async { app.client.get("/login").dispatch().await.status().code == 302 },
    )
    .await;
    assert_eq!(app.client.get("/login").dispatch().await.status().code, 302);
}
#[rocket::async_test]
async fn a_discovery_document_for_another_issuer_is_refused_clearly() {
    let app = app_with_idp(
        |idp| idp.set_metadata(json!({ "issuer": "https://impostor.example" })),
        |f| f,
    )
    .await;
    let response = app.client.get("/login").dispatch().await;
    assert_eq!(response.status().code, 502);
    assert!(text(response).await.contains("impostor.example"));
}
#[rocket::async_test]
async fn security_headers_are_on_every_page() {
    let app = app().await;
    for path in ["/", "/login", "/callback", "/nowhere"] {
        let response = app
            .client
            .get(path)
            .header(Header::new("Accept", "text/html"))
            .dispatch()
            .await;
        let h = response.headers();
        let csp = h.get_one("Content-Security-Policy").expect("CSP");
        assert!(
            !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(h.get_one("X-Content-Type-Options"), Some("nosniff"));
        assert_eq!(h.get_one("Referrer-Policy"), Some("strict-origin"));
        assert_eq!(h.get_one("Cache-Control"), Some("no-store"), "{path}");
        // Rocket.toml's `ident = false`: nothing names the server's software.
        assert_eq!(h.get_one("Server"), None, "{path}");
    }
}
#[rocket::async_test]
async fn answers_that_are_not_pages_get_a_policy_that_loads_nothing_and_pages_keep_theirs() {
    let app = app().await;
    // A logged-out script's 401 (JSON), a navigation's redirect to log in (no body), a script.
    for (path, accept) in [
        ("/api/hello", "*/*"),
        ("/login", "text/html"),
        ("/static/app.js", "*/*"),
    ] {
        let response = app
            .client
            .get(path)
            .header(Header::new("Accept", accept))
            .dispatch()
            .await;
        assert_eq!(
            response
                .headers()
                .get("Content-Security-Policy")
                .collect::<Vec<_>>(),
            ["default-src 'none'; frame-ancestors 'none'"],
            "{path}"
        );
    }
    let page = app
        .client
        .get("/")
        .header(Header::new("Accept", "text/html"))
        .dispatch()
        .await;
    let csp = page.headers().get_one("Content-Security-Policy").unwrap();
    assert!(
        csp.starts_with("default-src 'self'; script-src 'self'"),
        "{csp}"
    );
}
#[rocket::async_test]
async fn strict_transport_security_is_sent_only_for_an_https_base_url() {
    let local = app().await;
    let response = local.client.get("/").dispatch().await;
    assert!(response
        .headers()
        .get_one("Strict-Transport-Security")
        .is_none());
    let public = app_with_idp(
        |_| {},
        |f| f.merge(("oidc.base_url", "https://app.example")),
    )
    .await;
    let response = public.client.get("/").dispatch().await;
    let hsts = response
        .headers()
        .get_one("Strict-Transport-Security")
        .unwrap_or_default();
    assert!(hsts.starts_with("max-age="), "{hsts}");
}
