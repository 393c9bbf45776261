//! Step-up logins (RFC 9470, OpenID Connect Core 3.1.2.1 and 3.1.3.7 rules 11-12): `/login`
//! passes `acr_values` and `max_age` to the IdP, the callback refuses an ID token that does
//! not deliver them, and a stronger login replaces the browser's previous session.

use crate::helpers;

use std::collections::HashMap;

use helpers::{app, text, TestApp};
use rocket::http::Status;
use serde_json::{json, Value};

/// `GET uri` (a `/login` URL); the IdP request's parameters.
async fn start(app: &TestApp, uri: &str) -> HashMap<String, String> {
    helpers::idp_request_params(&app.client, uri).await
}

/// A step-up login with `uri`, the IdP answering with `extra` claims in its ID token.
async fn step_up_login(app: &TestApp, uri: &str, extra: Value) -> Status {
    let params = start(app, uri).await;
    let mut claims = app.idp.claims(&params["nonce"]);
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    let token = app.idp.token(&claims);
    app.callback(&[("id_token", &token), ("state", &params["state"])])
        .await
        .status()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn login_passes_acr_values_and_max_age_to_the_idp() {
    let app = app().await;
    let params = start(&app, "/login?acr_values=mfa%20urn:x:loa:2&max_age=300").await;
    assert_eq!(params["acr_values"], "mfa urn:x:loa:2");
    assert_eq!(params["max_age"], "300");
    let plain = start(&app, "/login").await;
    assert!(!plain.contains_key("acr_values") && !plain.contains_key("max_age"));
}

#[tokio::test]
async fn malformed_step_up_parameters_get_a_400_page_and_no_redirect() {
    let app = app().await;
    for uri in [
        "/login?max_age=soon",
        "/login?max_age=-1",
        "/login?acr_values=a%20%20b",
        "/login?acr_values=%22quoted%22",
    ] {
        let response = app.client.get(uri).dispatch().await;
        assert_eq!(response.status(), Status::BadRequest, "{uri}");
        assert!(response.headers().get_one("Location").is_none());
    }
}

#[tokio::test]
async fn an_id_token_with_one_of_the_requested_acr_values_is_accepted() {
    let app = app().await;
    let status = step_up_login(&app, "/login?acr_values=mfa%20hwk", json!({"acr": "hwk"})).await;
    assert_eq!(status, Status::SeeOther);
    assert_eq!(app.call_api().await.status(), Status::Ok);
}

#[tokio::test]
async fn an_id_token_with_another_acr_is_refused_and_no_session_is_issued() {
    let app = app().await;
    let params = start(&app, "/login?acr_values=mfa").await;
    let mut claims = app.idp.claims(&params["nonce"]);
    claims["acr"] = json!("pwd");
    let response = app
        .callback(&[
            ("id_token", &app.idp.token(&claims)),
            ("state", &params["state"]),
        ])
        .await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert!(response.cookies().get("bff_session").is_none());
    assert!(text(response).await.contains("required method"));
}

#[tokio::test]
async fn an_id_token_without_acr_is_refused_when_acr_values_were_asked() {
    let app = app().await;
    let status = step_up_login(&app, "/login?acr_values=mfa", json!({})).await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(app.call_api().await.status(), Status::Unauthorized);
}

#[tokio::test]
async fn a_recent_enough_auth_time_satisfies_max_age() {
    let app = app().await;
    let status = step_up_login(&app, "/login?max_age=300", json!({"auth_time": now() - 10})).await;
    assert_eq!(status, Status::SeeOther);
}

#[tokio::test]
async fn an_auth_time_older_than_max_age_is_refused() {
    let app = app().await;
    let status = step_up_login(
        &app,
        "/login?max_age=300",
        json!({"auth_time": now() - 1000}),
    )
    .await;
    assert_eq!(status, Status::Unauthorized);
}

#[tokio::test]
async fn a_missing_auth_time_is_refused_when_max_age_was_asked() {
    let app = app().await;
    let status = step_up_login(&app, "/login?max_age=300", json!({})).await;
    assert_eq!(status, Status::Unauthorized);
}

#[tokio::test]
async fn an_ordinary_login_does_not_check_acr_or_auth_time() {
    let app = app().await;
    let status = step_up_login(&app, "/login", json!({"acr": "pwd"})).await;
    assert_eq!(status, Status::SeeOther);
}

#[tokio::test]
async fn a_stronger_login_replaces_the_session_and_the_old_cookie_stops_working() {
    let app = app().await;
    assert_eq!(app.login().await.status(), Status::SeeOther);
    let old = app.session_cookie().expect("a session");
    let status = step_up_login(&app, "/login?acr_values=mfa", json!({"acr": "mfa"})).await;
    assert_eq!(status, Status::SeeOther);
    let new = app.session_cookie().expect("a new session");
    assert_ne!(old, new);
    assert_eq!(app.call_api().await.status(), Status::Ok);
    // A copy of the previous cookie is refused: that session ended when it was replaced.
    let response = app
        .client
        .get("/api/hello")
        .header(rocket::http::Header::new("Accept", "application/json"))
        .header(rocket::http::Header::new("Sec-Fetch-Mode", "cors"))
        .cookie(rocket::http::Cookie::new("bff_session", old))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Unauthorized);
}
