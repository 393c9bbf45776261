//! What `POST /backchannel-logout` ends and how it answers (Back-Channel Logout 1.0 §2.5,
//! §2.7–2.8): by `sid` the sessions of that IdP session, by `sub` every earlier session of that
//! user; refresh tokens revoked at the IdP; nothing ended by a refused token; JSON answers that
//! are never cached; no cookie or same-origin check needed.

use std::sync::Arc;

use rocket::http::{ContentType, Header};
use rocket::local::asynchronous::Client;
use serde_json::json;

use super::{assert_accepted, assert_refused, bcl, bcl_with, code_bcl, Bcl};
use crate::helpers::idp::TestIdp;
use crate::helpers::store::ObservedStore;

#[rocket::async_test]
async fn valid_by_sid_ends_that_cookie_only_session() {
    let app = bcl().await;
    let session = app.login(json!({"sid": "sid-1"})).await;
    assert_eq!(app.api(&session).await, 200);
    let claims = app.idp.logout_claims(Some("sid-1"), Some("user-123"));
    assert_accepted(&app.post_claims(&claims).await);
    assert_eq!(app.api(&session).await, 401, "the session is ended");
}

#[rocket::async_test]
async fn by_sid_only_that_idp_sessions_sessions_end() {
    let app = bcl().await;
    let ended = app.login(json!({"sid": "sid-1"})).await;
    let same_user_elsewhere = app.login(json!({"sid": "sid-2"})).await;
    let other_user = app.login(json!({"sid": "sid-3", "sub": "user-456"})).await;
    let claims = app.idp.logout_claims(Some("sid-1"), None);
    assert_accepted(&app.post_claims(&claims).await);
    assert_eq!(app.api(&ended).await, 401);
    assert_eq!(app.api(&same_user_elsewhere).await, 200);
    assert_eq!(app.api(&other_user).await, 200);
}

#[rocket::async_test]
async fn valid_by_sid_revokes_the_code_flow_sessions_refresh_token_at_the_idp() {
    let app = code_bcl().await;
    let session = app.login_with_code(json!({"sid": "sid-code"})).await;
    assert_eq!(app.api(&session).await, 200);
    let refresh_token = app.idp.back.refresh_tokens.lock().unwrap()[0].clone();
    let claims = app.idp.logout_claims(Some("sid-code"), None);
    assert_accepted(&app.post_claims(&claims).await);
    assert_eq!(app.api(&session).await, 401);
    assert!(
        app.idp
            .back
            .revoked
            .lock()
            .unwrap()
            .contains(&refresh_token),
        "the refresh token is revoked at the IdP"
    );
}

#[rocket::async_test]
async fn valid_by_sub_revokes_every_code_flow_session_of_that_user() {
    let app = code_bcl().await;
    let first = app.login_with_code(json!({})).await;
    let second = app.login_with_code(json!({})).await;
    let refresh_tokens = app.idp.back.refresh_tokens.lock().unwrap().clone();
    assert_eq!(refresh_tokens.len(), 2);
    let claims = app.idp.logout_claims(None, Some("user-123"));
    assert_accepted(&app.post_claims(&claims).await);
    assert_eq!(app.api(&first).await, 401);
    assert_eq!(app.api(&second).await, 401);
    let revoked = app.idp.back.revoked.lock().unwrap().clone();
    for token in &refresh_tokens {
        assert!(revoked.contains(token), "every refresh token is revoked");
    }
}

/// Waits until the clock has moved to the next second: sessions are dated in seconds, and a
/// by-user logout ends those begun in its own second too.
async fn next_second() {
    let start = crate::helpers::idp::now();
    while crate::helpers::idp::now() == start {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[rocket::async_test]
async fn valid_by_sub_only_ends_all_that_users_sessions_but_a_later_login_stays_valid() {
    let app = bcl().await;
    let with_sid = app.login(json!({"sid": "sid-1"})).await;
    let without_sid = app.login(json!({})).await;
    let other_user = app.login(json!({"sub": "user-456", "sid": "sid-9"})).await;
    let claims = app.idp.logout_claims(None, Some("user-123"));
    assert_accepted(&app.post_claims(&claims).await);
    assert_eq!(app.api(&with_sid).await, 401);
    assert_eq!(app.api(&without_sid).await, 401);
    assert_eq!(
        app.api(&other_user).await,
        200,
        "other users' sessions untouched"
    );
    next_second().await;
    let later = app.login(json!({})).await;
    assert_eq!(
        app.api(&later).await,
        200,
        "a login after the logout stays valid"
    );
}

#[rocket::async_test]
async fn an_invalid_logout_token_ends_nothing() {
    let app = bcl().await;
    let session = app.login(json!({"sid": "sid-1"})).await;
    let claims = app.idp.logout_claims(Some("sid-1"), Some("user-123"));
    let mut with_nonce = claims.clone();
    with_nonce["nonce"] = json!("n");
    assert_refused(&app.post_claims(&with_nonce).await, "nonce");
    let wrong_aud = {
        let mut c = claims.clone();
        c["aud"] = json!("someone-else");
        c
    };
    assert_refused(&app.post_claims(&wrong_aud).await, "aud");
    assert_eq!(app.api(&session).await, 200, "the session still works");
}

#[rocket::async_test]
async fn a_refused_token_does_not_spend_its_jti() {
    let app = bcl().await;
    let session = app.login(json!({"sid": "sid-1"})).await;
    let claims = app.idp.logout_claims(Some("sid-1"), None);
    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = json!("someone-else");
    assert_refused(&app.post_claims(&wrong_aud).await, "aud");
    // The same jti in a valid token is still accepted.
    assert_accepted(&app.post_claims(&claims).await);
    assert_eq!(app.api(&session).await, 401);
}

#[rocket::async_test]
async fn a_request_without_logout_token_is_a_json_400() {
    let app = bcl().await;
    let answer = app.post(ContentType::Form, String::new()).await;
    assert_refused(&answer, "logout_token parameter is missing");
    let answer = app.post(ContentType::Form, "other=1".into()).await;
    assert_refused(&answer, "logout_token parameter is missing");
    let answer = app.post(ContentType::Form, "logout_token=".into()).await;
    assert_refused(&answer, "logout_token parameter is missing");
}

#[rocket::async_test]
async fn a_body_that_is_not_a_form_is_a_json_400() {
    let app = bcl().await;
    let token = app
        .idp
        .logout_token(&app.idp.logout_claims(Some("sid-1"), None));
    let answer = app
        .post(
            ContentType::JSON,
            json!({"logout_token": token}).to_string(),
        )
        .await;
    assert_refused(&answer, "application/x-www-form-urlencoded");
    let answer = app.post(ContentType::Plain, token).await;
    assert_refused(&answer, "application/x-www-form-urlencoded");
}

#[rocket::async_test]
async fn a_form_that_cannot_be_read_is_a_json_400() {
    let app = bcl().await;
    let answer = app
        .post(ContentType::Form, "logout_token=%zz%".into())
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.body["error"], "invalid_request");
    assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
}

#[rocket::async_test]
async fn a_cross_site_request_without_cookies_is_served() {
    // Server to server: no cookie, and browser-style cross-site markers do not block it.
    let app = bcl().await;
    let token = app
        .idp
        .logout_token(&app.idp.logout_claims(Some("sid-1"), None));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("logout_token", &token)
        .finish();
    let response = app
        .client
        .post("/backchannel-logout")
        .header(ContentType::Form)
        .header(Header::new("Sec-Fetch-Site", "cross-site"))
        .header(Header::new("Origin", "https://idp.example"))
        .body(body)
        .dispatch()
        .await;
    assert_eq!(response.status().code, 200);
    assert!(response.headers().get_one("Set-Cookie").is_none());
}

#[rocket::async_test]
async fn an_idp_never_discovered_answers_503_not_500() {
    let app = bcl_with(|idp| idp.set_available(false), |f| f).await;
    let claims = app.idp.logout_claims(Some("sid-1"), None);
    let answer = app.post_claims(&claims).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.body["error"], "temporarily_unavailable");
    assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
}

#[rocket::async_test]
async fn keys_already_fetched_serve_while_the_idp_is_down() {
    let app = bcl().await;
    let session = app.login(json!({"sid": "sid-1"})).await;
    app.idp.set_available(false);
    let claims = app.idp.logout_claims(Some("sid-1"), None);
    assert_accepted(&app.post_claims(&claims).await);
    assert_eq!(app.api(&session).await, 401);
}

/// The app on a store the test can take down.
async fn on_failing_store() -> (Bcl, Arc<ObservedStore>) {
    let idp = TestIdp::start().await;
    let store = Arc::new(ObservedStore::default());
    let rocket =
        crate::helpers::bff::build_with_store(crate::helpers::figment(&idp.issuer), store.clone())
            .expect("valid config");
    let client = Client::untracked(rocket).await.expect("app ignites");
    (Bcl { idp, client }, store)
}

#[rocket::async_test]
async fn the_store_being_down_answers_503_and_the_idp_may_deliver_again() {
    let (app, store) = on_failing_store().await;
    let session = app.login(json!({"sid": "sid-1"})).await;
    let token = app
        .idp
        .logout_token(&app.idp.logout_claims(Some("sid-1"), None));
    store.set_failing(true);
    let answer = app.post_logout_token(&token).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.body["error"], "temporarily_unavailable");
    assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
    store.set_failing(false);
    assert_eq!(app.api(&session).await, 200, "nothing ended yet");
    // Delivered again once the store is back, the same token is accepted.
    assert_accepted(&app.post_logout_token(&token).await);
    assert_eq!(app.api(&session).await, 401);
}

#[rocket::async_test]
async fn the_jti_is_recorded_in_the_store_until_the_token_expires() {
    let (app, store) = on_failing_store().await;
    let claims = app.idp.logout_claims(Some("sid-1"), None);
    assert_accepted(&app.post_claims(&claims).await);
    let recorded: Vec<_> = store
        .claims()
        .into_iter()
        .filter(|(key, _)| key.starts_with("logout-jti:"))
        .collect();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    let (key, ttl) = &recorded[0];
    assert!(
        !key.contains(claims["jti"].as_str().unwrap()),
        "a digest, not the jti"
    );
    // exp is 120 s ahead, plus the 60 s clock skew.
    assert!((170..=181).contains(&ttl.as_secs()), "{ttl:?}");
}
