//! The JOSE header (`typ`, `crit`, `cty`, encryption, a repeated `alg`) and tokens that are
//! malformed or oversized: refused, never a server error.

use serde_json::json;

use super::{claims, signed_with_header, with};
use crate::backchannel_logout::{assert_accepted, assert_refused, bcl};
use crate::helpers::idp::b64_json;

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
