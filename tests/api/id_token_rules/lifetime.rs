//! `exp`, `iat` and `nbf` against the clock, within a configurable skew.

use rocket::serde::json::json;

use super::{assert_refused, post_forged, with};
use crate::helpers::idp;
use crate::helpers::{app, app_with};

#[rocket::async_test]
async fn expired_token_is_refused() {
    let app = app().await;
    assert_refused(
        &app,
        |app, claims| app.idp.token(&with(claims, "exp", json!(idp::now() - 120))),
        "has expired",
    )
    .await;
}
#[rocket::async_test]
async fn token_expired_within_the_clock_skew_is_accepted() {
    let app = app().await;
    let (status, body) = post_forged(&app, |app, claims| {
        app.idp.token(&with(claims, "exp", json!(idp::now() - 20)))
    })
    .await;
    assert_eq!(status, 303, "default skew is 60 s: {body}");
}
#[rocket::async_test]
async fn clock_skew_is_configurable() {
    let app = app_with(|f| f.merge(("oidc.clock_skew_secs", 0))).await;
    assert_refused(
        &app,
        |app, claims| app.idp.token(&with(claims, "exp", json!(idp::now() - 5))),
        "has expired",
    )
    .await;
}
#[rocket::async_test]
async fn token_issued_in_the_future_beyond_the_skew_is_refused() {
    let app = app().await;
    assert_refused(
        &app,
        |app, claims| app.idp.token(&with(claims, "iat", json!(idp::now() + 600))),
        "issued in the future",
    )
    .await;
}
#[rocket::async_test]
async fn token_issued_slightly_in_the_future_within_the_skew_is_accepted() {
    let app = app().await;
    let (status, body) = post_forged(&app, |app, claims| {
        app.idp.token(&with(claims, "iat", json!(idp::now() + 20)))
    })
    .await;
    assert_eq!(status, 303, "{body}");
}
#[rocket::async_test]
async fn token_not_valid_before_a_time_beyond_the_skew_is_refused() {
    let app = app().await;
    assert_refused(
        &app,
        |app, claims| {
            app.idp
                .token(&with(claims, "nbf", json!(idp::now() + 3600)))
        },
        "not valid yet (nbf)",
    )
    .await;
}
#[rocket::async_test]
async fn token_with_nbf_now_or_slightly_ahead_within_the_skew_is_accepted() {
    let app = app().await;
    for nbf in [idp::now() - 60, idp::now() + 20] {
        let (status, body) = post_forged(&app, |app, claims| {
            app.idp.token(&with(claims, "nbf", json!(nbf)))
        })
        .await;
        assert_eq!(status, 303, "nbf {nbf}: {body}");
    }
}
#[rocket::async_test]
async fn token_whose_nbf_is_not_a_number_is_refused() {
    let app = app().await;
    assert_refused(
        &app,
        |app, claims| app.idp.token(&with(claims, "nbf", json!("tomorrow"))),
        "nbf is not a number",
    )
    .await;
}
