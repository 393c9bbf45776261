//! The claims a login needs: this login's `nonce`, `sub`, `exp` and `iat`.

use rocket::serde::json::json;

use super::{assert_refused, with, without};
use crate::helpers::app;

#[rocket::async_test]
async fn nonce_of_another_login_is_refused() {
    let app = app().await;
    assert_refused(
        &app,
        |app, claims| {
            app.idp
                .token(&with(claims, "nonce", json!("another-nonce")))
        },
        "nonce mismatch",
    )
    .await;
}
#[rocket::async_test]
async fn missing_nonce_is_refused() {
    let app = app().await;
    assert_refused(
        &app,
        |app, claims| app.idp.token(&without(claims, "nonce")),
        "nonce mismatch",
    )
    .await;
}
#[rocket::async_test]
async fn missing_sub_is_refused() {
    let app = app().await;
    assert_refused(
        &app,
        |app, claims| app.idp.token(&without(claims, "sub")),
        "malformed",
    )
    .await;
}
#[rocket::async_test]
async fn missing_exp_or_iat_is_refused() {
    let app = app().await;
    assert_refused(
        &app,
        |app, claims| app.idp.token(&without(claims, "exp")),
        "malformed",
    )
    .await;
    assert_refused(
        &app,
        |app, claims| app.idp.token(&without(claims, "iat")),
        "malformed",
    )
    .await;
}
