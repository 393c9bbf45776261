//! The signature: an algorithm the IdP advertises, never `none` or HMAC with the public key,
//! a published key (an unknown `kid` refetches the JWKS once), claims unaltered.

use serde_json::json;

use super::{claims, with};
use crate::backchannel_logout::{assert_accepted, assert_refused, bcl, bcl_with};
use crate::helpers::idp::{b64_json, sign_hs256, Key};

#[rocket::async_test]
async fn alg_none_is_refused() {
    let app = bcl().await;
    let token = format!(
        "{}.{}.",
        b64_json(&json!({"alg": "none", "typ": "logout+jwt"})),
        b64_json(&claims(&app))
    );
    assert_refused(
        &app.post_logout_token(&token).await,
        "signing algorithm is not allowed",
    );
}

#[rocket::async_test]
async fn hs256_signed_with_public_key_is_refused() {
    let app = bcl().await;
    let public_jwk = serde_json::to_vec(&app.idp.key.jwk()).unwrap();
    let header = json!({"alg": "HS256", "kid": "key-a", "typ": "logout+jwt"});
    let token = sign_hs256(&public_jwk, &header, &claims(&app));
    assert_refused(
        &app.post_logout_token(&token).await,
        "signing algorithm is not allowed",
    );
}

#[rocket::async_test]
async fn an_algorithm_the_idp_does_not_advertise_for_id_tokens_is_refused() {
    let ec = Key::ec("key-ec", "ec-a.pem");
    let published = ec.clone();
    let app = bcl_with(
        |idp| {
            idp.publish(vec![idp.key.clone(), published]);
            idp.set_metadata(json!({ "id_token_signing_alg_values_supported": ["RS256"] }));
        },
        |f| f,
    )
    .await;
    let token = crate::helpers::idp::sign_logout_token(&ec, &claims(&app));
    assert_refused(
        &app.post_logout_token(&token).await,
        "signing algorithm is not allowed",
    );
}

#[rocket::async_test]
async fn es256_logout_tokens_are_accepted_when_advertised() {
    let ec = Key::ec("key-ec", "ec-a.pem");
    let published = ec.clone();
    let app = bcl_with(|idp| idp.publish(vec![idp.key.clone(), published]), |f| f).await;
    let token = crate::helpers::idp::sign_logout_token(&ec, &claims(&app));
    assert_accepted(&app.post_logout_token(&token).await);
}

#[rocket::async_test]
async fn signature_by_an_unpublished_key_with_a_known_kid_is_refused() {
    let app = bcl().await;
    let impostor = match Key::rsa("key-b", "rsa-b.pem") {
        Key::Rsa { key, .. } => Key::Rsa {
            kid: "key-a".into(),
            key,
        },
        other => other,
    };
    let token = crate::helpers::idp::sign_logout_token(&impostor, &claims(&app));
    assert_refused(&app.post_logout_token(&token).await, "signature is invalid");
}

#[rocket::async_test]
async fn altered_claims_break_the_signature() {
    let app = bcl().await;
    let token = app.idp.logout_token(&claims(&app));
    let parts: Vec<&str> = token.split('.').collect();
    let altered = b64_json(&with(claims(&app), "sub", json!("admin")));
    let forged = format!("{}.{}.{}", parts[0], altered, parts[2]);
    assert_refused(
        &app.post_logout_token(&forged).await,
        "signature is invalid",
    );
}

#[rocket::async_test]
async fn unknown_kid_refetches_jwks_and_a_rotated_key_is_accepted() {
    let app = bcl().await;
    // Warm up: the first token makes the app discover the IdP and fetch its keys once.
    assert_accepted(&app.post_claims(&claims(&app)).await);
    let fetches = app.idp.jwks_fetches();
    let rotated = Key::rsa("key-b", "rsa-b.pem");
    app.idp.publish(vec![rotated.clone()]);
    let token = crate::helpers::idp::sign_logout_token(&rotated, &claims(&app));
    assert_accepted(&app.post_logout_token(&token).await);
    assert_eq!(app.idp.jwks_fetches(), fetches + 1, "one refetch");
}

#[rocket::async_test]
async fn a_kid_still_unknown_after_the_refetch_is_refused() {
    let app = bcl().await;
    let stranger = Key::rsa("key-c", "rsa-c.pem");
    let token = crate::helpers::idp::sign_logout_token(&stranger, &claims(&app));
    assert_refused(&app.post_logout_token(&token).await, "does not publish");
    let fetches = app.idp.jwks_fetches();
    let again = crate::helpers::idp::sign_logout_token(&stranger, &claims(&app));
    assert_refused(&app.post_logout_token(&again).await, "does not publish");
    assert_eq!(
        app.idp.jwks_fetches(),
        fetches,
        "no second fetch for the same kid"
    );
}
