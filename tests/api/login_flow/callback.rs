//! What the callback refuses (IdP errors, a GET with a token, JSON, an oversized body,
//! another issuer's `iss`) and where it returns (same-origin paths only), with error pages
//! that carry a request id and no token.

use rocket::http::ContentType;
use rocket::serde::json::json;

use crate::helpers::{app, text};

#[rocket::async_test]
async fn access_denied_from_the_idp_shows_a_cancelled_page_and_deletes_the_cookie() {
    let app = app().await;
    let start = app.start_login("/").await;
    let response = app
        .callback(&[
            ("error", "access_denied"),
            ("error_description", "<script>alert(1)</script>"),
            ("state", &start.state),
        ])
        .await;
    assert_eq!(response.status().code, 401);
    let deleted = response
        .headers()
        .get("Set-Cookie")
        .any(|c| c.starts_with("bff_login_") && c.contains("Max-Age=0"));
    assert!(deleted);
    let body = text(response).await;
    assert!(body.contains("Login cancelled"));
    assert!(body.contains("/login"), "offers to try again");
    assert!(!body.contains("<script>alert"), "IdP text is escaped");
}
#[rocket::async_test]
async fn other_idp_errors_show_a_failed_page() {
    let app = app().await;
    let start = app.start_login("/").await;
    let response = app
        .callback(&[("error", "server_error"), ("state", &start.state)])
        .await;
    assert_eq!(response.status().code, 400);
    assert!(text(response).await.contains("server_error"));
}
#[rocket::async_test]
async fn a_callback_by_get_with_a_token_in_the_query_is_refused() {
    let app = app().await;
    let start = app.start_login("/").await;
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    let response = app
        .client
        .get(format!("/callback?id_token={token}&state={}", start.state))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 400);
    assert!(response.cookies().get("bff_session").is_none());
    let body = text(response).await;
    assert!(body.contains("form_post"));
    assert!(!body.contains(&token), "the token is never echoed");
}
#[rocket::async_test]
async fn a_json_callback_is_refused_with_a_clear_page() {
    let app = app().await;
    let response = app
        .client
        .post("/callback")
        .header(ContentType::JSON)
        .body(json!({"id_token": "x", "state": "y"}).to_string())
        .dispatch()
        .await;
    assert_eq!(response.status().code, 400);
}
#[rocket::async_test]
async fn an_oversized_callback_body_is_refused_with_413() {
    let app = app().await;
    let start = app.start_login("/").await;
    let huge = "a".repeat(100 * 1024);
    let response = app
        .callback(&[("id_token", &huge), ("state", &start.state)])
        .await;
    assert_eq!(response.status().code, 413);
}
#[rocket::async_test]
async fn an_iss_parameter_naming_another_issuer_is_refused() {
    let app = app().await;
    let start = app.start_login("/").await;
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    let response = app
        .callback(&[
            ("id_token", &token),
            ("state", &start.state),
            ("iss", "https://evil.example"),
        ])
        .await;
    assert_eq!(response.status().code, 400);
}
#[rocket::async_test]
async fn return_to_only_accepts_same_origin_paths() {
    for (attack, expected) in [
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/%2F%2Fevil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/profile", "/profile"),
        ("/café?q=<x>", "/caf%C3%A9?q=%3Cx%3E"),
    ] {
        let app = app().await;
        let start = app.start_login(attack).await;
        let token = app.idp.token(&app.idp.claims(&start.nonce));
        let response = app
            .callback(&[("id_token", &token), ("state", &start.state)])
            .await;
        assert_eq!(response.status().code, 303);
        assert_eq!(
            response.headers().get_one("Location"),
            Some(expected),
            "returnTo={attack}"
        );
    }
}
#[rocket::async_test]
async fn error_pages_carry_a_request_id_and_no_token() {
    let app = app().await;
    let start = app.start_login("/").await;
    let token = app.idp.token(&app.idp.claims("wrong-nonce"));
    let response = app
        .callback(&[("id_token", &token), ("state", &start.state)])
        .await;
    assert_eq!(response.status().code, 401);
    let body = text(response).await;
    assert!(body.contains("id=\"request-id\""));
    assert!(!body.contains(&token));
    assert!(!body.contains(&start.nonce) && !body.contains("wrong-nonce"));
}
