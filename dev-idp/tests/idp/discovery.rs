//! Discovery and the signing keys.

use dev_idp::{Lifetimes, Options};
use openidconnect::reqwest;
use serde_json::{json, Value};

use crate::support::*;

#[rocket::async_test]
async fn discovery_and_keys_describe_a_form_post_provider_with_code_and_id_token() {
    let idp = start().await;
    let response = idp
        .http
        .get(format!("{}/.well-known/openid-configuration", idp.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let doc: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(doc["issuer"], idp.url);
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{}/authorize", idp.url)
    );
    assert_eq!(doc["jwks_uri"], format!("{}/jwks", idp.url));
    assert_eq!(
        doc["end_session_endpoint"],
        format!("{}/end_session", idp.url)
    );
    assert_eq!(
        doc["response_types_supported"],
        json!(["id_token", "code", "code id_token"])
    );
    assert_eq!(doc["token_endpoint"], format!("{}/token", idp.url));
    assert_eq!(doc["userinfo_endpoint"], format!("{}/userinfo", idp.url));
    assert_eq!(doc["revocation_endpoint"], format!("{}/revoke", idp.url));
    let auth_methods = json!([
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt"
    ]);
    assert_eq!(doc["token_endpoint_auth_methods_supported"], auth_methods);
    assert_eq!(
        doc["revocation_endpoint_auth_methods_supported"],
        auth_methods
    );
    let algs = json!(["ES256", "PS256", "RS256"]);
    assert_eq!(
        doc["token_endpoint_auth_signing_alg_values_supported"],
        algs
    );
    assert_eq!(
        doc["revocation_endpoint_auth_signing_alg_values_supported"],
        algs
    );
    assert_eq!(doc["dpop_signing_alg_values_supported"], algs);
    assert_eq!(
        doc["pushed_authorization_request_endpoint"],
        format!("{}/par", idp.url)
    );
    assert_eq!(doc["require_pushed_authorization_requests"], false);
    assert_eq!(
        doc["grant_types_supported"],
        json!(["authorization_code", "implicit", "refresh_token"])
    );
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["response_modes_supported"], json!(["form_post"]));
    assert_eq!(doc["subject_types_supported"], json!(["public"]));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert!(doc["scopes_supported"]
        .as_array()
        .unwrap()
        .contains(&"openid".into()));
    assert!(doc["claims_supported"]
        .as_array()
        .unwrap()
        .contains(&"email".into()));

    let jwks = idp.get(&format!("{}/jwks", idp.url), None).await;
    let jwks: Value = serde_json::from_str(&jwks.body).unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "RSA");
    assert!(keys[0]["kid"]
        .as_str()
        .is_some_and(|k| k.starts_with("dev-")));
    assert!(keys[0].get("d").is_none(), "no private part is published");
}

#[rocket::async_test]
async fn a_configured_issuer_is_the_one_in_discovery() {
    let port = free_port();
    let issuer = format!("http://localhost:{port}");
    let running = dev_idp::start(Options {
        port,
        issuer: Some(issuer.clone()),
        ..Options::default()
    })
    .await
    .expect("starts");
    assert_eq!(running.issuer(), issuer);
    let response = reqwest::get(format!(
        "http://127.0.0.1:{port}/.well-known/openid-configuration"
    ))
    .await
    .unwrap();
    let doc: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(doc["authorization_endpoint"], format!("{issuer}/authorize"));
    running.shutdown();
}

#[rocket::async_test]
async fn with_no_clients_given_oidc_bffs_development_client_is_registered() {
    assert_eq!(dev_idp::DEFAULT_CLIENT_ID, CLIENT_ID);
    assert_eq!(
        dev_idp::DEFAULT_CLIENT_SECRET,
        CLIENT_SECRET,
        "as documented"
    );
    assert_eq!(dev_idp::DEFAULT_CLIENT_BASE_URL, APP);
    let idp = start_with(Vec::new(), Lifetimes::default()).await;
    let sign_in = idp.get(&idp.authorize_url(&[]), None).await;
    assert_eq!(sign_in.status, 200);
    assert!(sign_in.body.contains(r#"id="password""#));
    let (code, _) = idp.code_for_alice(None).await;
    assert_eq!(idp.redeem(&code, VERIFIER).await.status, 200);
}
