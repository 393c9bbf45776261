//! `LOGIN_RATE_LIMIT`: a client address starts at most so many logins a minute; past it 429
//! with `Retry-After`, and the IdP is not asked for anything.

use std::net::SocketAddr;

use crate::helpers;

use helpers::{app_with, TestApp};
use rocket::http::Header;

async fn login_from(app: &TestApp, peer: &str) -> (u16, Option<String>, String) {
    let response = app
        .client
        .get("/login")
        .remote(peer.parse::<SocketAddr>().unwrap())
        .dispatch()
        .await;
    let status = response.status().code;
    let retry_after = response.headers().get_one("Retry-After").map(String::from);
    (
        status,
        retry_after,
        response.into_string().await.unwrap_or_default(),
    )
}

#[rocket::async_test]
async fn past_the_limit_an_address_gets_429_with_retry_after_and_others_go_on() {
    let app = app_with(|f| f.merge(("oidc.login_rate_limit", 3))).await;
    for _ in 0..3 {
        assert_eq!(login_from(&app, "192.0.2.1:5000").await.0, 302);
    }
    let (status, retry_after, page) = login_from(&app, "192.0.2.1:5001").await;
    assert_eq!(status, 429, "{page}");
    assert_eq!(retry_after.as_deref(), Some("20"), "one login every 20 s");
    assert!(page.contains("Too many logins"), "{page}");
    // Another address counts apart.
    assert_eq!(login_from(&app, "192.0.2.2:5000").await.0, 302);
}

#[rocket::async_test]
async fn a_client_cannot_escape_the_limit_with_x_real_ip() {
    let app = app_with(|f| f.merge(("oidc.login_rate_limit", 1))).await;
    assert_eq!(login_from(&app, "192.0.2.1:5000").await.0, 302);
    let response = app
        .client
        .get("/login")
        .remote("192.0.2.1:5002".parse::<SocketAddr>().unwrap())
        .header(Header::new("X-Real-IP", "198.51.100.9"))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 429);
}

#[rocket::async_test]
async fn zero_means_no_limit() {
    let app = app_with(|f| f.merge(("oidc.login_rate_limit", 0))).await;
    for _ in 0..200 {
        assert_eq!(login_from(&app, "192.0.2.1:5000").await.0, 302);
    }
}
