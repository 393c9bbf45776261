//! `private_key_jwt`: the token endpoint gets a signed client assertion (each with its own
//! `jti`) and no secret; the published key set holds the public key only.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rocket::http::Status;
use serde_json::{json, Value};

use super::{code_app, decode, last_token_request, log_in, private_key_jwt, with_secret};
use crate::helpers::back_channel::proof_claims;
use crate::helpers::CLIENT_ID;

#[tokio::test]
async fn the_token_endpoint_gets_a_signed_client_assertion_and_no_secret() {
    let app = code_app(
        json!({"token_endpoint_auth_signing_alg_values_supported": ["PS256", "ES256"]}),
        private_key_jwt("rsa-b.pem"),
    )
    .await;
    assert_eq!(log_in(&app).await, Status::SeeOther);
    let request = last_token_request(&app);
    assert_eq!(request.authorization, None, "no Basic credentials");
    assert_eq!(request.client_secret_in_body, None);
    assert_eq!(
        request.client_assertion_type.as_deref(),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    let assertion = request.client_assertion.unwrap();
    let parts: Vec<&str> = assertion.split('.').collect();
    let (header, claims) = (decode(parts[0]), decode(parts[1]));
    assert_eq!(
        header["alg"], "PS256",
        "the key's best algorithm the IdP lists"
    );
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["sub"], CLIENT_ID);
    assert_eq!(claims["aud"], app.idp.issuer.as_str());
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(
        exp > iat && exp - iat <= 60,
        "a short-lived assertion: {claims}"
    );

    // The signature verifies with the key the app publishes, found by the header's kid.
    let jwks: Value = app
        .client
        .get("/.well-known/jwks.json")
        .dispatch()
        .await
        .into_json()
        .await
        .unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the assertion's kid is published");
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    ring::rsa::PublicKeyComponents { n: &n, e: &e }
        .verify(
            &ring::signature::RSA_PSS_2048_8192_SHA256,
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &signature,
        )
        .expect("the assertion verifies with the published key");
}

#[tokio::test]
async fn every_client_assertion_has_its_own_jti() {
    let app = code_app(json!({}), private_key_jwt("ec-a.pem")).await;
    assert_eq!(log_in(&app).await, Status::SeeOther);
    assert_eq!(log_in(&app).await, Status::SeeOther);
    let requests = app.idp.back.requests.lock().unwrap().clone();
    let jtis: Vec<Value> = requests
        .iter()
        .map(|r| proof_claims(r.client_assertion.as_deref().unwrap())["jti"].clone())
        .collect();
    assert_eq!(jtis.len(), 2);
    assert_ne!(jtis[0], jtis[1]);
    let header = decode(
        requests[0]
            .client_assertion
            .as_deref()
            .unwrap()
            .split('.')
            .next()
            .unwrap(),
    );
    assert_eq!(header["alg"], "ES256", "a P-256 key signs ES256");
}

#[tokio::test]
async fn the_published_key_set_holds_the_public_key_only_and_is_empty_without_one() {
    let app = code_app(json!({}), private_key_jwt("rsa-b.pem")).await;
    let response = app.client.get("/.well-known/jwks.json").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    let jwks: Value = response.into_json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert!(key["kid"].as_str().is_some_and(|kid| kid.len() == 43));
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(key.get(private).is_none(), "{private} published");
    }
    let plain = code_app(json!({}), with_secret).await;
    let jwks: Value = plain
        .client
        .get("/.well-known/jwks.json")
        .dispatch()
        .await
        .into_json()
        .await
        .unwrap();
    assert_eq!(jwks, json!({"keys": []}));
}
