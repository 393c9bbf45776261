//! Step-up (RFC 9470) through the gateway: an API's `insufficient_user_authentication`
//! challenge becomes `step_up_required` with a login URL, and the stronger login that follows
//! gives the same browser a session whose token the API accepts.

use std::collections::HashMap;

use rocket::http::Status;
use serde_json::json;

use super::{access_token, fetch, gateway_app, json, log_in};
use crate::helpers::upstream::Upstream;

#[tokio::test]
async fn an_apis_step_up_challenge_becomes_step_up_required_with_the_login_url() {
    let upstream = Upstream::start().await;
    let app = gateway_app(&upstream).await;
    log_in(&app).await;
    let response = fetch(&app, "/api/echo/stepup").await;
    assert_eq!(response.status(), Status::Unauthorized);
    let body = json(response).await;
    assert_eq!(body["error"], "step_up_required");
    assert_eq!(body["login_url"], "/login?acr_values=mfa&max_age=60");
    assert_eq!(
        app.idp
            .back
            .refresh_count
            .load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a step-up challenge is not a reason to refresh"
    );
}

#[tokio::test]
async fn an_ordinary_401_from_the_api_is_passed_through_unchanged() {
    let upstream = Upstream::start().await;
    let app = gateway_app(&upstream).await;
    log_in(&app).await;
    upstream.reject_token(&access_token(&app));
    // A POST is not retried, so the API's own 401 reaches the page as it was.
    let response = app
        .client
        .post("/api/echo/x")
        .header(rocket::http::Header::new("X-CSRF", "1"))
        .header(rocket::http::Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::Unauthorized);
    assert_eq!(
        response.headers().get_one("WWW-Authenticate"),
        Some(r#"Bearer error="invalid_token""#)
    );
}

#[tokio::test]
async fn the_step_up_round_trip_ends_with_the_api_accepting_the_new_token() {
    let upstream = Upstream::start().await;
    let app = gateway_app(&upstream).await;
    log_in(&app).await;
    let weak_session = app.session_cookie();
    let body = json(fetch(&app, "/api/echo/stepup").await).await;
    let login_url = body["login_url"].as_str().expect("login_url").to_string();

    // The login URL sends the browser to the IdP with the API's requirements.
    let response = app
        .client
        .get(format!("{login_url}&returnTo=/"))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 302);
    let location = response.headers().get_one("Location").unwrap().to_string();
    let params: HashMap<String, String> = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(params["acr_values"], "mfa");
    assert_eq!(params["max_age"], "60");

    // The IdP authenticates with the second factor, just now.
    *app.idp.back.id_token_overrides.lock().unwrap() =
        json!({"acr": "mfa", "auth_time": chrono_now()});
    let code = app
        .idp
        .back
        .grant_code(&params["nonce"], &params["code_challenge"]);
    let response = app
        .callback(&[("code", &code), ("state", &params["state"])])
        .await;
    assert_eq!(
        response.status(),
        Status::SeeOther,
        "the stronger login is accepted"
    );
    let strong = access_token(&app);
    upstream.accept_as_strong(&strong);

    let response = fetch(&app, "/api/echo/stepup").await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(
        upstream.last().header("authorization"),
        Some(format!("Bearer {strong}").as_str())
    );
    assert_ne!(app.session_cookie(), weak_session, "a new session id");
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
