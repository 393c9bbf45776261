//! One test per rule of the logout token (Back-Channel Logout 1.0 §2.4–2.6): a token that
//! breaks exactly that rule is refused with 400 and a description naming the rule.

use serde_json::{json, Value};

use super::{assert_accepted, assert_refused, bcl, bcl_with, Bcl};
use crate::helpers::idp::{b64_json, now, sign_hs256, sign_raw, Key};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Valid claims for the IdP session `sid-1` of `user-123`.
fn claims(app: &Bcl) -> Value {
    app.idp.logout_claims(Some("sid-1"), Some("user-123"))
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().unwrap().remove(name);
    claims
}

/// The IdP's key and header `{alg, kid}` plus `extra`, over `claims`.
fn signed_with_header(app: &Bcl, extra: Value, claims: &Value) -> String {
    let mut header = json!({ "alg": app.idp.key.alg(), "kid": app.idp.key.kid() });
    for (name, value) in extra.as_object().unwrap() {
        header[name] = value.clone();
    }
    sign_raw(&app.idp.key, &header, claims)
}

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

#[rocket::async_test]
async fn typ_of_an_id_token_is_refused() {
    let app = bcl().await;
    let token = signed_with_header(&app, json!({"typ": "id_token+jwt"}), &claims(&app));
    assert_refused(
        &app.post_logout_token(&token).await,
        "type (typ) is not logout+jwt",
    );
}

#[rocket::async_test]
async fn typ_of_an_access_token_is_refused() {
    let app = bcl().await;
    let token = signed_with_header(&app, json!({"typ": "at+jwt"}), &claims(&app));
    assert_refused(
        &app.post_logout_token(&token).await,
        "type (typ) is not logout+jwt",
    );
}

#[rocket::async_test]
async fn typ_jwt_or_none_is_accepted() {
    let app = bcl().await;
    let token = signed_with_header(&app, json!({"typ": "JWT"}), &claims(&app));
    assert_accepted(&app.post_logout_token(&token).await);
    let token = signed_with_header(&app, json!({}), &claims(&app));
    assert_accepted(&app.post_logout_token(&token).await);
    let token = signed_with_header(
        &app,
        json!({"typ": "application/logout+jwt"}),
        &claims(&app),
    );
    assert_accepted(&app.post_logout_token(&token).await);
}

#[rocket::async_test]
async fn crit_header_is_refused() {
    let app = bcl().await;
    let token = signed_with_header(&app, json!({"crit": ["exp"], "exp": 1}), &claims(&app));
    assert_refused(
        &app.post_logout_token(&token).await,
        "does not understand (crit)",
    );
}

#[rocket::async_test]
async fn nested_jwt_content_type_is_refused() {
    let app = bcl().await;
    let token = signed_with_header(&app, json!({"cty": "JWT"}), &claims(&app));
    assert_refused(
        &app.post_logout_token(&token).await,
        "does not understand (cty)",
    );
}

#[rocket::async_test]
async fn an_encrypted_logout_token_is_refused() {
    let app = bcl().await;
    let header = b64_json(&json!({"alg": "RSA-OAEP", "enc": "A256GCM", "kid": "key-a"}));
    let jwe = format!("{header}.a2V5.aXY.Y2lwaGVydGV4dA.dGFn");
    assert_refused(&app.post_logout_token(&jwe).await, "encrypted (JWE)");
}

#[rocket::async_test]
async fn a_header_with_enc_is_refused_as_encrypted() {
    let app = bcl().await;
    let token = signed_with_header(&app, json!({"enc": "A256GCM"}), &claims(&app));
    assert_refused(&app.post_logout_token(&token).await, "encrypted (JWE)");
}

#[rocket::async_test]
async fn a_header_naming_alg_twice_is_refused() {
    let app = bcl().await;
    let valid = app.idp.logout_token(&claims(&app));
    let parts: Vec<&str> = valid.split('.').collect();
    use base64::Engine;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(r#"{"alg":"none","kid":"key-a","alg":"RS256"}"#);
    let token = format!("{header}.{}.{}", parts[1], parts[2]);
    assert_refused(&app.post_logout_token(&token).await, "malformed");
}

#[rocket::async_test]
async fn malformed_compact_forms_are_refused_without_a_server_error() {
    let app = bcl().await;
    let valid = app.idp.logout_token(&claims(&app));
    let parts: Vec<&str> = valid.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    for token in [
        "garbage".to_string(),
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.extra"),
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}.{s}=="),
        format!("{h}.{p}.{}", s.replace('-', "+").replace('_', "/")),
        format!("{}.{p}.{s}", b64_json(&json!(["alg", "RS256"]))),
        format!("{}.{p}.{s}", b64_json(&json!({"alg": 256}))),
        format!("{}.{p}.{s}", b64_json(&json!({"kid": "key-a"}))),
        format!("{h}.{}.{s}", b64_json(&json!("claims"))),
        "...".to_string(),
        format!("{}.{p}.{s}", b64_json(&json!({"alg": "RS256", "kid": 7}))),
    ] {
        let answer = app.post_logout_token(&token).await;
        assert_eq!(answer.status, 400, "{token}: {}", answer.body);
        assert_eq!(answer.body["error"], "invalid_request");
    }
}

#[rocket::async_test]
async fn an_oversized_logout_token_is_refused() {
    let app = bcl().await;
    let claims = with(claims(&app), "padding", json!("x".repeat(20_000)));
    assert_refused(&app.post_claims(&claims).await, "too large");
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
