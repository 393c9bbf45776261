//! `exp`, `iat` and `nbf`: required where the spec says, numbers, and within the clock skew.

use serde_json::json;

use super::{claims, with, without};
use crate::backchannel_logout::{assert_accepted, assert_refused, bcl};
use crate::helpers::idp::now;

#[rocket::async_test]
async fn expired_logout_token_is_refused() {
    let app = bcl().await;
    let t = now();
    let claims = with(
        with(claims(&app), "iat", json!(t - 300)),
        "exp",
        json!(t - 120),
    );
    assert_refused(&app.post_claims(&claims).await, "has expired");
}

#[rocket::async_test]
async fn logout_token_expired_within_the_clock_skew_is_accepted() {
    let app = bcl().await;
    let t = now();
    let claims = with(
        with(claims(&app), "iat", json!(t - 100)),
        "exp",
        json!(t - 30),
    );
    assert_accepted(&app.post_claims(&claims).await);
}

#[rocket::async_test]
async fn logout_token_without_exp_is_refused() {
    let app = bcl().await;
    let claims = without(claims(&app), "exp");
    assert_refused(&app.post_claims(&claims).await, "no valid expiry (exp)");
}

#[rocket::async_test]
async fn logout_token_without_iat_is_refused() {
    let app = bcl().await;
    let claims = without(claims(&app), "iat");
    assert_refused(&app.post_claims(&claims).await, "no valid issue time (iat)");
}

#[rocket::async_test]
async fn logout_token_whose_iat_is_a_string_is_refused() {
    let app = bcl().await;
    let iat = now().to_string();
    let claims = with(claims(&app), "iat", json!(iat));
    assert_refused(&app.post_claims(&claims).await, "no valid issue time (iat)");
}

#[rocket::async_test]
async fn iat_in_the_future_beyond_the_skew_is_refused() {
    let app = bcl().await;
    let t = now();
    let claims = with(
        with(claims(&app), "iat", json!(t + 300)),
        "exp",
        json!(t + 600),
    );
    assert_refused(&app.post_claims(&claims).await, "issued in the future");
}

#[rocket::async_test]
async fn logout_token_issued_too_long_ago_is_refused_even_before_its_exp() {
    let app = bcl().await;
    let t = now();
    let claims = with(
        with(claims(&app), "iat", json!(t - 3600)),
        "exp",
        json!(t + 3600),
    );
    assert_refused(&app.post_claims(&claims).await, "issued too long ago");
}

#[rocket::async_test]
async fn nbf_in_future_beyond_the_skew_is_refused() {
    let app = bcl().await;
    let claims = with(claims(&app), "nbf", json!(now() + 300));
    assert_refused(&app.post_claims(&claims).await, "not valid yet (nbf)");
}

#[rocket::async_test]
async fn nbf_that_is_not_a_number_is_refused() {
    let app = bcl().await;
    let claims = with(claims(&app), "nbf", json!("now"));
    assert_refused(&app.post_claims(&claims).await, "nbf is not a number");
}

#[rocket::async_test]
async fn nbf_now_is_accepted() {
    let app = bcl().await;
    let claims = with(claims(&app), "nbf", json!(now()));
    assert_accepted(&app.post_claims(&claims).await);
}
