//! `GET /session`: what the page may know about its session, without keeping it alive.

use std::time::Duration;

use crate::helpers;

use helpers::bff::app_now;
use helpers::{app, app_with, TestApp};
use rocket::http::Header;
use serde_json::{json, Value};

/// `GET /session` as the page's script fetches it: the status, whether it set a session
/// cookie, the `Cache-Control` header and the JSON.
async fn session(app: &TestApp) -> (u16, bool, Option<String>, Value) {
    let response = app
        .client
        .get("/session")
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .dispatch()
        .await;
    let status = response.status().code;
    let renewed = sets_session_cookie(response.headers());
    let cache = response
        .headers()
        .get_one("Cache-Control")
        .map(String::from);
    let body = response.into_json().await.unwrap_or(Value::Null);
    (status, renewed, cache, body)
}

fn sets_session_cookie(headers: &rocket::http::HeaderMap<'_>) -> bool {
    headers
        .get("Set-Cookie")
        .any(|cookie| cookie.starts_with("bff_session="))
}

/// Logs in with the test IdP's usual claims plus `extra`.
async fn login_with(app: &TestApp, extra: Value) {
    let start = app.start_login("/").await;
    let mut claims = app.idp.claims(&start.nonce);
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    let token = app.idp.token(&claims);
    let response = app
        .callback(&[("id_token", &token), ("state", &start.state)])
        .await;
    assert_eq!(response.status().code, 303, "the login is accepted");
}

#[rocket::async_test]
async fn without_a_session_it_is_401_json_with_a_login_url_to_the_start_page() {
    let app = app().await;
    let (status, _, cache, body) = session(&app).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(cache.as_deref(), Some("no-store"));
    assert_eq!(body["error"], "login_required");
    assert_eq!(body["login_url"], "/login?returnTo=%2F");
}

#[rocket::async_test]
async fn logged_in_it_shows_who_how_strongly_until_when_and_how_to_log_out() {
    let app = app_with(|f| {
        f.merge(("oidc.session_idle_timeout_secs", 600))
            .merge(("oidc.session_absolute_lifetime_secs", 3600))
    })
    .await;
    let auth_time = app_now() - 5;
    login_with(
        &app,
        json!({"acr": "mfa", "auth_time": auth_time, "picture": "https://img.example/a.png"}),
    )
    .await;
    let now = app_now();
    let (status, _, cache, body) = session(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(cache.as_deref(), Some("no-store"));
    assert_eq!(body["sub"], "user-123");
    // The default SESSION_CLAIMS (name, email, picture): nothing else of the ID token.
    assert_eq!(
        body["claims"],
        json!({"name": "Alice Liddell", "email": "alice@example.com", "picture": "https://img.example/a.png"})
    );
    assert_eq!(body["acr"], "mfa");
    assert_eq!(body["auth_time"], auth_time);
    let expires_at = body["expires_at"].as_i64().unwrap();
    let idle_expires_at = body["idle_expires_at"].as_i64().unwrap();
    assert!((now + 3598..=now + 3600).contains(&expires_at), "{body}");
    assert!((now + 598..=now + 600).contains(&idle_expires_at), "{body}");
    assert_eq!(body["logout"]["url"], "/logout");
    assert_eq!(body["logout"]["method"], "POST");
}

#[rocket::async_test]
async fn session_claims_choose_the_claims_shown() {
    let app = app_with(|f| f.merge(("oidc.session_claims", "email, email_verified"))).await;
    app.login().await;
    let (status, _, _, body) = session(&app).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["claims"],
        json!({"email": "alice@example.com", "email_verified": true})
    );
    assert_eq!(body["acr"], Value::Null, "the test IdP sends no acr");
}

/// With a 20 s idle timeout a request renews the session once a second has passed (a
/// twentieth): `/api/hello` then does (the control), `/session` never does.
#[rocket::async_test]
async fn reading_it_does_not_extend_the_idle_timeout() {
    let app = app_with(|f| f.merge(("oidc.session_idle_timeout_secs", 20))).await;
    app.login().await;
    let (_, _, _, before) = session(&app).await;
    // Time itself is what the test needs to pass: the renewal is due a second after login.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, renewed, _, after) = session(&app).await;
    assert_eq!(status, 200, "{after}");
    assert!(!renewed, "GET /session renewed the session cookie");
    assert_eq!(after["idle_expires_at"], before["idle_expires_at"]);
    let api = app.call_api().await;
    assert_eq!(api.status().code, 200);
    assert!(
        sets_session_cookie(api.headers()),
        "control: an API call renews the session by now"
    );
    let (_, _, _, renewed_by_the_api) = session(&app).await;
    assert!(
        renewed_by_the_api["idle_expires_at"].as_i64() > before["idle_expires_at"].as_i64(),
        "{renewed_by_the_api}"
    );
}

#[rocket::async_test]
async fn after_logout_the_same_cookie_gets_401() {
    let app = app().await;
    app.login().await;
    let copy = app.session_cookie().expect("a session cookie");
    assert_eq!(session(&app).await.0, 200);
    let logout = app
        .client
        .post("/logout")
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert!(logout.status().code < 400, "{}", logout.status());
    let response = app
        .client
        .get("/session")
        .cookie(rocket::http::Cookie::new("bff_session", copy))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 401);
    let body: Value = response.into_json().await.unwrap();
    assert_eq!(body["error"], "login_required");
}
