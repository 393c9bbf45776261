//! Silent login (`/login?prompt=none`, OpenID Connect Core 3.1.2.1): a user whose IdP session
//! is alive logs in without a click; one whose is not goes back where they were, marked
//! `login=none`, with no session and no error page. `SILENT_LOGIN=true` makes the start page
//! try it once per browser session.

use crate::helpers;

use helpers::{app, app_with, text, TestApp};

/// The IdP's form_post of an error for the attempt `start`.
async fn idp_error<'a>(
    app: &'a TestApp,
    start: &helpers::LoginStart,
    error: &str,
) -> rocket::local::asynchronous::LocalResponse<'a> {
    app.callback(&[("error", error), ("state", &start.state)])
        .await
}

#[rocket::async_test]
async fn a_silent_login_asks_the_idp_for_prompt_none() {
    let app = app().await;
    let silent = app.start_login_with("/", &[("prompt", "none")]).await;
    assert_eq!(
        silent.params.get("prompt").map(String::as_str),
        Some("none")
    );
    let plain = app.start_login("/").await;
    assert_eq!(plain.params.get("prompt"), None, "control: no prompt");
}

#[rocket::async_test]
async fn without_an_idp_session_it_goes_back_marked_with_no_session_and_no_error_page() {
    for error in [
        "login_required",
        "consent_required",
        "interaction_required",
        "account_selection_required",
    ] {
        let app = app().await;
        let start = app
            .start_login_with("/orders?page=2", &[("prompt", "none")])
            .await;
        let response = idp_error(&app, &start, error).await;
        assert_eq!(response.status().code, 303, "{error}");
        assert_eq!(
            response.headers().get_one("Location"),
            Some("/orders?page=2&login=none"),
            "{error}"
        );
        drop(response);
        assert_eq!(app.session_cookie(), None, "{error}: no session");
        assert_eq!(app.call_api().await.status().code, 401, "{error}");
    }
}

/// The control: the same IdP error for an ordinary login is the error page, and another
/// error for a silent one too.
#[rocket::async_test]
async fn an_ordinary_login_or_another_error_still_gets_the_error_page() {
    let app = app().await;
    let start = app.start_login("/orders").await;
    let response = idp_error(&app, &start, "login_required").await;
    assert_eq!(response.status().code, 401);
    assert!(text(response).await.contains("Login cancelled"));
    let start = app.start_login_with("/orders", &[("prompt", "none")]).await;
    let response = idp_error(&app, &start, "server_error").await;
    assert_eq!(response.status().code, 400);
    assert!(text(response).await.contains("server_error"));
}

#[rocket::async_test]
async fn with_an_idp_session_it_logs_in_as_any_login_does() {
    let app = app().await;
    let start = app
        .start_login_with("/profile", &[("prompt", "none")])
        .await;
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    let response = app
        .callback(&[("id_token", &token), ("state", &start.state)])
        .await;
    assert_eq!(response.status().code, 303);
    assert_eq!(response.headers().get_one("Location"), Some("/profile"));
    drop(response);
    assert_eq!(app.call_api().await.status().code, 200);
}

#[rocket::async_test]
async fn only_prompt_none_can_be_asked_for() {
    let app = app().await;
    let response = app.client.get("/login?prompt=login").dispatch().await;
    assert_eq!(response.status().code, 400);
    assert!(text(response).await.contains("prompt=none"));
}

#[rocket::async_test]
async fn with_silent_login_on_the_start_page_tries_once_per_browser_session() {
    let app = app_with(|f| f.merge(("oidc.silent_login", true))).await;
    let first = app.client.get("/").dispatch().await;
    assert_eq!(first.status().code, 303);
    assert_eq!(
        first.headers().get_one("Location"),
        Some("/login?prompt=none&returnTo=%2F")
    );
    let tried = first
        .headers()
        .get("Set-Cookie")
        .find(|c| c.starts_with("bff_silent_login_tried="))
        .expect("the try is remembered")
        .to_string();
    assert!(
        tried.contains("HttpOnly") && !tried.contains("Max-Age"),
        "{tried}"
    );
    drop(first);
    // The next visit (the IdP sent the browser back without a session) is served.
    let again = app.client.get("/?login=none").dispatch().await;
    assert_eq!(again.status().code, 200);
    // A logged-in user is served too, whatever the cookie.
    app.login().await;
    assert_eq!(app.client.get("/").dispatch().await.status().code, 200);
}

#[rocket::async_test]
async fn without_silent_login_the_start_page_is_served_at_once() {
    let app = app().await;
    let response = app.client.get("/").dispatch().await;
    assert_eq!(response.status().code, 200);
}
