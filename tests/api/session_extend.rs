//! `POST /session/extend`: the page's "stay signed in" renews the idle window now.

use std::time::Duration;

use crate::helpers;

use helpers::{app, app_with, TestApp};
use rocket::http::Header;
use serde_json::Value;

async fn extend(app: &TestApp, csrf: bool) -> (u16, Value) {
    let mut request = app
        .client
        .post("/session/extend")
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .header(Header::new("Sec-Fetch-Site", "same-origin"));
    if csrf {
        request = request.header(Header::new("X-CSRF", "1"));
    }
    let response = request.dispatch().await;
    let status = response.status().code;
    (status, response.into_json().await.unwrap_or(Value::Null))
}

async fn idle_end(app: &TestApp) -> i64 {
    let response = app
        .client
        .get("/session")
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .dispatch()
        .await;
    let body: Value = response.into_json().await.unwrap();
    body["idle_expires_at"].as_i64().unwrap()
}

#[rocket::async_test]
async fn staying_signed_in_moves_the_idle_end() {
    // 600 s idle: a plain request would renew only after 30 s; "stay signed in" renews now.
    let app = app_with(|f| f.merge(("oidc.session_idle_timeout_secs", 600))).await;
    app.login().await;
    let before = idle_end(&app).await;
    // Time itself: the idle end is in whole seconds.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, body) = extend(&app, true).await;
    assert_eq!(status, 200, "{body}");
    let after = body["idle_expires_at"].as_i64().unwrap();
    assert!(after > before, "{before} -> {after}");
    assert_eq!(
        idle_end(&app).await,
        after,
        "the renewed cookie is the session now"
    );
}

#[rocket::async_test]
async fn without_the_csrf_header_it_is_refused() {
    let app = app().await;
    app.login().await;
    let (status, body) = extend(&app, false).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(extend(&app, true).await.0, 200, "control: with the header");
}

#[rocket::async_test]
async fn without_a_session_it_is_401() {
    let app = app().await;
    let (status, body) = extend(&app, true).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "login_required");
}
