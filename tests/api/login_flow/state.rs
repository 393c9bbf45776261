//! `state` and the transient cookie: required, matched, single use; a captured callback
//! cannot be replayed; parallel logins succeed and abandoned attempts are capped.

use rocket::http::ContentType;
use rocket::serde::json::json;

use crate::helpers;
use crate::helpers::{app, text};

#[rocket::async_test]
async fn missing_state_is_refused() {
    let app = app().await;
    let start = app.start_login("/").await;
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    let response = app.callback(&[("id_token", &token)]).await;
    assert_eq!(response.status().code, 400);
    assert!(text(response).await.contains("No login was in progress"));
}
#[rocket::async_test]
async fn a_state_without_its_transient_cookie_is_refused() {
    let app = app().await;
    let start = app.start_login("/").await;
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    // A different browser (no cookies) posting the same response.
    let stranger = rocket::local::asynchronous::Client::untracked(
        helpers::bff::build_from(helpers::figment(&app.idp.issuer)).unwrap(),
    )
    .await
    .unwrap();
    let response = stranger
        .post("/callback")
        .header(ContentType::Form)
        .body(format!("id_token={token}&state={}", start.state))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 400);
    assert!(response.cookies().get("bff_session").is_none());
}
#[rocket::async_test]
async fn a_state_that_differs_after_the_cookie_tag_is_refused() {
    let app = app().await;
    let start = app.start_login("/").await;
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    let mut forged = start.state.clone();
    forged.replace_range(20..21, if &forged[20..21] == "A" { "B" } else { "A" });
    let response = app
        .callback(&[("id_token", &token), ("state", &forged)])
        .await;
    assert_eq!(response.status().code, 400);
    assert!(response.cookies().get("bff_session").is_none());
}
#[rocket::async_test]
async fn a_transient_cookie_is_single_use() {
    let app = app().await;
    let start = app.start_login("/").await;
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    let fields = [
        ("id_token", token.as_str()),
        ("state", start.state.as_str()),
    ];
    assert_eq!(app.callback(&fields).await.status().code, 303);
    assert_eq!(app.callback(&fields).await.status().code, 400);
}
#[rocket::async_test]
async fn replaying_a_captured_callback_with_a_copy_of_its_cookie_fails() {
    let app = app().await;
    let start = app.start_login("/").await;
    let copied: Vec<_> = app
        .client
        .cookies()
        .iter()
        .filter(|c| c.name().starts_with("bff_login_"))
        .map(|c| c.clone().into_owned())
        .collect();
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    let body = format!("id_token={token}&state={}", start.state);
    assert_eq!(
        app.callback(&[("id_token", &token), ("state", &start.state)])
            .await
            .status()
            .code,
        303
    );
    let replay = app
        .client
        .post("/callback")
        .header(ContentType::Form)
        .cookies(copied)
        .body(body)
        .dispatch()
        .await;
    assert_eq!(replay.status().code, 400);
    assert!(text(replay).await.contains("already used"));
}
#[rocket::async_test]
async fn a_consumed_state_is_kept_until_its_token_could_no_longer_be_replayed() {
    let idp = helpers::idp::TestIdp::start().await;
    let store = std::sync::Arc::new(helpers::store::ObservedStore::default());
    let figment = helpers::figment(&idp.issuer).merge(("oidc.clock_skew_secs", 30));
    let rocket = helpers::bff::build_with_store(figment, store.clone()).unwrap();
    let client = rocket::local::asynchronous::Client::tracked(rocket)
        .await
        .unwrap();
    let app = helpers::TestApp { client, idp };
    for (lifetime, expected_secs) in [(120, 150), (3600, 600)] {
        let start = app.start_login("/").await;
        let mut claims = app.idp.claims(&start.nonce);
        claims["exp"] = json!(claims["iat"].as_i64().unwrap() + lifetime);
        let token = app.idp.token(&claims);
        let answer = app
            .callback(&[("id_token", &token), ("state", &start.state)])
            .await;
        assert_eq!(answer.status().code, 303);
        let kept = store
            .claims()
            .into_iter()
            .rfind(|(key, _)| key.starts_with("consumed-state:"))
            .unwrap()
            .1
            .as_secs();
        // The token's exp plus the clock skew, or the attempt's 10 minutes if shorter.
        assert!(
            (expected_secs - 2..=expected_secs).contains(&kept),
            "token valid for {lifetime} s: state kept {kept} s, expected about {expected_secs}"
        );
    }
}
#[rocket::async_test]
async fn two_logins_started_in_parallel_both_succeed() {
    let app = app().await;
    let first = app.start_login("/first").await;
    let second = app.start_login("/second").await;
    for (start, path) in [(&second, "/second"), (&first, "/first")] {
        let token = app.idp.token(&app.idp.claims(&start.nonce));
        let response = app
            .callback(&[("id_token", &token), ("state", &start.state)])
            .await;
        assert_eq!(response.status().code, 303);
        assert_eq!(response.headers().get_one("Location"), Some(path));
    }
}
#[rocket::async_test]
async fn abandoned_attempts_are_capped_and_the_oldest_dropped() {
    let app = app().await;
    let oldest = app.start_login("/oldest").await;
    for _ in 0..6 {
        app.start_login("/").await;
    }
    let pending = app
        .client
        .cookies()
        .iter()
        .filter(|c| c.name().starts_with("bff_login_"))
        .count();
    assert!(pending <= 4, "{pending} pending login cookies");
    let token = app.idp.token(&app.idp.claims(&oldest.nonce));
    let response = app
        .callback(&[("id_token", &token), ("state", &oldest.state)])
        .await;
    assert_eq!(
        response.status().code,
        400,
        "the oldest attempt was dropped"
    );
}
