//! `iss` exactly the IdP's; `aud` this client, alone or with `azp` naming it.

use serde_json::json;

use super::{claims, with, without};
use crate::backchannel_logout::{assert_refused, bcl};

#[rocket::async_test]
async fn wrong_issuer_is_refused() {
    let app = bcl().await;
    let claims = with(claims(&app), "iss", json!("https://evil.example"));
    assert_refused(
        &app.post_claims(&claims).await,
        "another identity provider (iss)",
    );
}

#[rocket::async_test]
async fn issuer_with_an_extra_trailing_slash_is_refused() {
    let app = bcl().await;
    let iss = format!("{}/", app.idp.issuer);
    let claims = with(claims(&app), "iss", json!(iss));
    assert_refused(
        &app.post_claims(&claims).await,
        "another identity provider (iss)",
    );
}

#[rocket::async_test]
async fn wrong_audience_is_refused() {
    let app = bcl().await;
    let claims = with(claims(&app), "aud", json!("another-client"));
    assert_refused(
        &app.post_claims(&claims).await,
        "meant for another application (aud)",
    );
}

#[rocket::async_test]
async fn missing_audience_is_refused() {
    let app = bcl().await;
    let claims = without(claims(&app), "aud");
    assert_refused(
        &app.post_claims(&claims).await,
        "meant for another application (aud)",
    );
}

#[rocket::async_test]
async fn an_additional_untrusted_audience_is_refused() {
    let app = bcl().await;
    let aud = json!([crate::helpers::CLIENT_ID, "another-client"]);
    let claims = with(
        with(claims(&app), "aud", aud),
        "azp",
        json!(crate::helpers::CLIENT_ID),
    );
    assert_refused(
        &app.post_claims(&claims).await,
        "meant for another application (aud)",
    );
}

#[rocket::async_test]
async fn several_audiences_without_azp_are_refused() {
    let app = bcl().await;
    let aud = json!([crate::helpers::CLIENT_ID, crate::helpers::CLIENT_ID]);
    let claims = with(claims(&app), "aud", aud);
    assert_refused(
        &app.post_claims(&claims).await,
        "obtained by another application (azp)",
    );
}

#[rocket::async_test]
async fn azp_naming_another_client_is_refused() {
    let app = bcl().await;
    let claims = with(claims(&app), "azp", json!("another-client"));
    assert_refused(
        &app.post_claims(&claims).await,
        "obtained by another application (azp)",
    );
}
