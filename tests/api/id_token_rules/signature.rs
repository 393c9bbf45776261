//! The signature: a valid token logs in; a key the IdP did not publish, an altered payload,
//! `none`, HMAC keyed with the public key or an algorithm the IdP does not advertise are
//! refused; and so are malformed tokens and headers with `crit` or a nested JWT.

use rocket::serde::json::json;

use super::{assert_refused, post_forged, with};
use crate::helpers::idp::{b64_json, sign_hs256, sign_raw, sign_with, Key};
use crate::helpers::{app, app_with_idp};

#[rocket::async_test]
async fn a_valid_token_logs_in() {
    let app = app().await;
    let (status, _) = post_forged(&app, |app, claims| app.idp.token(&claims)).await;
    assert_eq!(status, 303);
    assert!(app.session_cookie().is_some());
    assert_eq!(app.call_api().await.status().code, 200);
}
#[rocket::async_test]
async fn signature_by_an_unpublished_key_with_a_known_kid_is_refused() {
    let app = app().await;
    let impostor = match Key::rsa("key-b", "rsa-b.pem") {
        Key::Rsa { key, .. } => Key::Rsa {
            kid: "key-a".into(),
            key,
        },
        other => other,
    };
    assert_refused(
        &app,
        |_, claims| sign_with(&impostor, &claims),
        "signature is invalid",
    )
    .await;
}
#[rocket::async_test]
async fn altered_payload_breaks_the_signature() {
    let app = app().await;
    assert_refused(
        &app,
        |app, claims| {
            let token = app.idp.token(&claims);
            let parts: Vec<&str> = token.split('.').collect();
            let altered = b64_json(&with(claims, "sub", json!("admin")));
            format!("{}.{}.{}", parts[0], altered, parts[2])
        },
        "signature is invalid",
    )
    .await;
}
#[rocket::async_test]
async fn unsigned_alg_none_is_refused() {
    let app = app().await;
    assert_refused(
        &app,
        |_, claims| {
            format!(
                "{}.{}.",
                b64_json(&json!({"alg": "none", "typ": "JWT"})),
                b64_json(&claims)
            )
        },
        "algorithm is not allowed",
    )
    .await;
}
#[rocket::async_test]
async fn hmac_keyed_with_the_public_key_is_refused() {
    let app = app().await;
    assert_refused(
        &app,
        |app, claims| {
            let public_jwk = serde_json::to_vec(&app.idp.key.jwk()).unwrap();
            sign_hs256(
                &public_jwk,
                &json!({"alg": "HS256", "kid": "key-a", "typ": "JWT"}),
                &claims,
            )
        },
        "algorithm is not allowed",
    )
    .await;
}
#[rocket::async_test]
async fn an_algorithm_the_idp_does_not_advertise_is_refused() {
    let ec = Key::ec("key-ec", "ec-a.pem");
    let published = ec.clone();
    let app = app_with_idp(
        |idp| {
            idp.publish(vec![idp.key.clone(), published]);
            idp.set_metadata(json!({ "id_token_signing_alg_values_supported": ["RS256"] }));
        },
        |f| f,
    )
    .await;
    assert_refused(
        &app,
        |_, claims| sign_with(&ec, &claims),
        "algorithm is not allowed",
    )
    .await;
}
#[rocket::async_test]
async fn es256_tokens_are_accepted_when_advertised() {
    let app = app().await;
    let ec = Key::ec("key-ec", "ec-a.pem");
    app.idp.publish(vec![app.idp.key.clone(), ec.clone()]);
    let (status, body) = post_forged(&app, |_, claims| sign_with(&ec, &claims)).await;
    assert_eq!(status, 303, "{body}");
}
#[rocket::async_test]
async fn malformed_tokens_are_refused_without_a_server_error() {
    let app = app().await;
    for garbage in [
        "not-a-jwt",
        "a.b",
        "a.b.c.d",
        "!!!.@@@.###",
        "eyJhbGciOiJSUzI1NiJ9..",
        &format!(
            "{}.{}.sig",
            b64_json(&json!("just a string")),
            b64_json(&json!({}))
        ),
        &format!(
            "{}.{}.",
            b64_json(&json!({"alg": "RS256", "kid": "x".repeat(10_000)})),
            b64_json(&json!({}))
        ),
    ] {
        let garbage = garbage.to_string();
        let (status, body) = post_forged(&app, |_, _| garbage.clone()).await;
        assert_eq!(status, 401, "{garbage:.40}: {body}");
    }
}
#[rocket::async_test]
async fn crit_header_and_nested_jwt_content_type_are_refused() {
    let app = app().await;
    for header in [
        json!({"alg": "RS256", "kid": "key-a", "crit": ["exp"]}),
        json!({"alg": "RS256", "kid": "key-a", "cty": "JWT"}),
    ] {
        let key = app.idp.key.clone();
        let (status, body) = post_forged(&app, |_, claims| sign_raw(&key, &header, &claims)).await;
        assert_eq!(status, 401, "{header}: {body}");
    }
}
