//! The logout token's own claims: `sid` or `sub`, no `nonce`, the logout event in `events`,
//! and a `jti` used once.

use serde_json::json;

use super::{claims, with, without, EVENT};
use crate::backchannel_logout::{assert_accepted, assert_refused, bcl};

#[rocket::async_test]
async fn a_valid_logout_token_is_accepted() {
    let app = bcl().await;
    assert_accepted(&app.post_claims(&claims(&app)).await);
}

#[rocket::async_test]
async fn a_logout_token_with_only_sid_or_only_sub_is_accepted() {
    let app = bcl().await;
    let by_sid = app.idp.logout_claims(Some("sid-1"), None);
    assert_accepted(&app.post_claims(&by_sid).await);
    let by_sub = app.idp.logout_claims(None, Some("user-123"));
    assert_accepted(&app.post_claims(&by_sub).await);
}

#[rocket::async_test]
async fn logout_token_without_sid_and_sub_is_refused() {
    let app = bcl().await;
    let claims = app.idp.logout_claims(None, None);
    assert_refused(
        &app.post_claims(&claims).await,
        "neither a session (sid) nor a user (sub)",
    );
}

#[rocket::async_test]
async fn logout_token_whose_sid_is_not_a_string_is_refused() {
    let app = bcl().await;
    let claims = with(claims(&app), "sid", json!(42));
    assert_refused(
        &app.post_claims(&claims).await,
        "sid is not a non-empty string",
    );
}

#[rocket::async_test]
async fn logout_token_whose_sub_is_empty_is_refused() {
    let app = bcl().await;
    let claims = with(without(claims(&app), "sid"), "sub", json!(""));
    assert_refused(
        &app.post_claims(&claims).await,
        "sub is not a non-empty string",
    );
}

#[rocket::async_test]
async fn logout_token_with_nonce_is_refused() {
    let app = bcl().await;
    let claims = with(claims(&app), "nonce", json!("n-0S6_WzA2Mj"));
    assert_refused(&app.post_claims(&claims).await, "carries a nonce");
}

#[rocket::async_test]
async fn an_id_token_posted_as_a_logout_token_is_refused() {
    let app = bcl().await;
    let id_token = app.idp.token(&app.idp.claims("some-nonce"));
    assert_refused(&app.post_logout_token(&id_token).await, "no events claim");
}

#[rocket::async_test]
async fn logout_token_without_events_is_refused() {
    let app = bcl().await;
    let claims = without(claims(&app), "events");
    assert_refused(&app.post_claims(&claims).await, "no events claim");
}

#[rocket::async_test]
async fn logout_token_whose_events_is_not_an_object_is_refused() {
    let app = bcl().await;
    let claims = with(claims(&app), "events", json!([EVENT]));
    assert_refused(&app.post_claims(&claims).await, "no events claim");
}

#[rocket::async_test]
async fn logout_token_whose_events_lack_the_logout_event_is_refused() {
    let app = bcl().await;
    let events = json!({ "http://schemas.openid.net/event/other": {} });
    let claims = with(claims(&app), "events", events);
    assert_refused(
        &app.post_claims(&claims).await,
        "do not declare a back-channel logout",
    );
}

#[rocket::async_test]
async fn logout_token_whose_logout_event_is_not_an_object_is_refused() {
    let app = bcl().await;
    let claims = with(claims(&app), "events", json!({ EVENT: true }));
    assert_refused(
        &app.post_claims(&claims).await,
        "do not declare a back-channel logout",
    );
}

#[rocket::async_test]
async fn logout_token_with_other_events_beside_the_logout_event_is_accepted() {
    let app = bcl().await;
    let events = json!({ EVENT: {}, "https://example.com/other-event": {"x": 1} });
    let claims = with(claims(&app), "events", events);
    assert_accepted(&app.post_claims(&claims).await);
}

#[rocket::async_test]
async fn replayed_jti_is_refused() {
    let app = bcl().await;
    let token = app.idp.logout_token(&claims(&app));
    assert_accepted(&app.post_logout_token(&token).await);
    assert_refused(&app.post_logout_token(&token).await, "already used");
}

#[rocket::async_test]
async fn the_same_jti_in_another_token_is_refused_too() {
    let app = bcl().await;
    let first = claims(&app);
    let jti = first["jti"].clone();
    assert_accepted(&app.post_claims(&first).await);
    let second = with(app.idp.logout_claims(Some("sid-2"), None), "jti", jti);
    assert_refused(&app.post_claims(&second).await, "already used");
}

#[rocket::async_test]
async fn logout_token_without_jti_is_refused() {
    let app = bcl().await;
    let claims = without(claims(&app), "jti");
    assert_refused(&app.post_claims(&claims).await, "no identifier (jti)");
}

#[rocket::async_test]
async fn logout_token_whose_jti_is_not_a_string_is_refused() {
    let app = bcl().await;
    let claims = with(claims(&app), "jti", json!(12345));
    assert_refused(&app.post_claims(&claims).await, "no identifier (jti)");
}
