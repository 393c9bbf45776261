//! One test per ID token rule (OpenID Connect Core 3.2.2.11 / 3.1.3.7): a token that breaks
//! exactly that rule is refused with 401, no session is issued, and the page says why.

use crate::helpers;

use helpers::idp::{self, b64_json, sign_hs256, sign_raw, sign_with, Key};
use helpers::{app, app_with, app_with_idp, text, TestApp};
use rocket::serde::json::{json, Value};

/// Starts a login, lets `forge` build the token from valid claims, posts it.
async fn post_forged(
    app: &TestApp,
    forge: impl FnOnce(&TestApp, Value) -> String,
) -> (u16, String) {
    let (status, body, _) = post_forged_session(app, forge).await;
    (status, body)
}

/// Like `post_forged`, also telling whether the response set a session cookie.
async fn post_forged_session(
    app: &TestApp,
    forge: impl FnOnce(&TestApp, Value) -> String,
) -> (u16, String, bool) {
    let start = app.start_login("/").await;
    let token = forge(app, app.idp.claims(&start.nonce));
    let response = app
        .callback(&[("id_token", &token), ("state", &start.state)])
        .await;
    let status = response.status().code;
    let session_set = response.cookies().get("bff_session").is_some();
    (status, text(response).await, session_set)
}

async fn assert_refused(
    app: &TestApp,
    forge: impl FnOnce(&TestApp, Value) -> String,
    reason: &str,
) {
    let (status, body, session_set) = post_forged_session(app, forge).await;
    assert_eq!(status, 401, "refused with 401; page: {body}");
    assert!(
        body.contains(reason),
        "page names the reason {reason:?}: {body}"
    );
    assert!(!session_set, "no session cookie after a refused token");
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().unwrap().remove(name);
    claims
}

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
