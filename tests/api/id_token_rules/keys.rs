//! An unknown `kid`: one JWKS refetch (not again within a minute), a rotated key accepted,
//! a key still unknown or removed from the IdP refused.

use super::{assert_refused, post_forged};
use crate::helpers::app;
use crate::helpers::idp::{sign_with, Key};

#[rocket::async_test]
async fn unknown_kid_triggers_one_key_refetch_and_a_rotated_key_is_accepted() {
    let app = app().await;
    // Warm up: the first login fetches the key set once.
    assert_eq!(app.login().await.status().code, 303);
    let fetches = app.idp.jwks_fetches();
    let rotated = Key::rsa("key-b", "rsa-b.pem");
    app.idp.publish(vec![rotated.clone()]);
    let (status, body) = post_forged(&app, |_, claims| sign_with(&rotated, &claims)).await;
    assert_eq!(status, 303, "a new key is accepted on first sight: {body}");
    assert_eq!(app.idp.jwks_fetches(), fetches + 1);
}
#[rocket::async_test]
async fn a_kid_still_unknown_after_refetch_is_refused() {
    let app = app().await;
    let stranger = Key::rsa("key-c", "rsa-c.pem");
    assert_refused(
        &app,
        |_, claims| sign_with(&stranger, &claims),
        "does not publish",
    )
    .await;
}
#[rocket::async_test]
async fn the_same_unknown_kid_does_not_refetch_again_within_a_minute() {
    let app = app().await;
    let stranger = Key::rsa("key-c", "rsa-c.pem");
    assert_refused(
        &app,
        |_, claims| sign_with(&stranger, &claims),
        "does not publish",
    )
    .await;
    let fetches = app.idp.jwks_fetches();
    assert_refused(
        &app,
        |_, claims| sign_with(&stranger, &claims),
        "does not publish",
    )
    .await;
    assert_eq!(
        app.idp.jwks_fetches(),
        fetches,
        "no second fetch for the same kid"
    );
}
#[rocket::async_test]
async fn a_key_removed_from_the_idp_stops_being_accepted_after_refetch() {
    let app = app().await;
    assert_eq!(app.login().await.status().code, 303);
    let old = app.idp.key.clone();
    let new = Key::rsa("key-b", "rsa-b.pem");
    app.idp.publish(vec![new.clone()]);
    // A token with the new key makes the app refetch; the old key is gone from that set.
    let (status, _) = post_forged(&app, |_, claims| sign_with(&new, &claims)).await;
    assert_eq!(status, 303);
    assert_refused(
        &app,
        |_, claims| sign_with(&old, &claims),
        "does not publish",
    )
    .await;
}
