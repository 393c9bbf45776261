//! `iss` exactly the IdP's; `aud` with this client and no untrusted audience; `azp` this
//! client when present.

use rocket::serde::json::json;

use super::{assert_refused, post_forged, with};
use crate::helpers;
use crate::helpers::app;

#[rocket::async_test]
async fn wrong_issuer_is_refused() {
    let app = app().await;
    assert_refused(
        &app,
        |app, claims| {
            app.idp
                .token(&with(claims, "iss", json!("https://evil.example")))
        },
        "another identity provider",
    )
    .await;
}
#[rocket::async_test]
async fn issuer_with_an_extra_trailing_slash_is_refused() {
    let app = app().await;
    assert_refused(
        &app,
        |app, claims| {
            let iss = format!("{}/", app.idp.issuer);
            app.idp.token(&with(claims, "iss", json!(iss)))
        },
        "another identity provider",
    )
    .await;
}
#[rocket::async_test]
async fn audience_without_our_client_id_is_refused() {
    let app = app().await;
    assert_refused(
        &app,
        |app, claims| app.idp.token(&with(claims, "aud", json!("someone-else"))),
        "meant for another application",
    )
    .await;
}
#[rocket::async_test]
async fn an_additional_untrusted_audience_is_refused() {
    let app = app().await;
    assert_refused(
        &app,
        |app, claims| {
            let claims = with(claims, "aud", json!([helpers::CLIENT_ID, "someone-else"]));
            app.idp
                .token(&with(claims, "azp", json!(helpers::CLIENT_ID)))
        },
        "meant for another application",
    )
    .await;
}
#[rocket::async_test]
async fn azp_naming_another_client_is_refused_even_with_one_audience() {
    let app = app().await;
    assert_refused(
        &app,
        |app, claims| app.idp.token(&with(claims, "azp", json!("someone-else"))),
        "obtained by another application",
    )
    .await;
}
#[rocket::async_test]
async fn azp_equal_to_our_client_id_is_accepted() {
    let app = app().await;
    let (status, body) = post_forged(&app, |app, claims| {
        app.idp
            .token(&with(claims, "azp", json!(helpers::CLIENT_ID)))
    })
    .await;
    assert_eq!(status, 303, "{body}");
}
