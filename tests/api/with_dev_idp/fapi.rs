//! FAPI 2.0 at the development IdP: the request pushed (by default too), the client
//! authenticated by its key, the tokens DPoP-bound.

use serde_json::Value;

use super::{query, start_with, text_of, ALICE};

/// FAPI 2.0 at the development IdP: the request pushed (the browser's URL holds `client_id`
/// and `request_uri` only), the app authenticated by its key (registered inline from its
/// public key set), and tokens bound to the session's DPoP key: useless as Bearer tokens,
/// accepted with the app's proofs at UserInfo and at the demo API behind the gateway.
#[rocket::async_test]
async fn a_fapi_login_at_the_dev_idp_is_pushed_key_authenticated_and_dpop_bound() {
    let key = format!("{}/tests/support/keys/ec-a.pem", env!("CARGO_MANIFEST_DIR"));
    let dev = start_with(move |f| {
        f.merge(("oidc.response_type", "code"))
            .merge(("oidc.client_auth", "private_key_jwt"))
            .merge(("oidc.client_private_key", key))
            .merge(("oidc.par", "always"))
            .merge(("oidc.dpop", true))
    })
    .await;
    let login = query(&dev.login_url().await);
    let mut names: Vec<&str> = login.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["client_id", "request_uri"], "{login:?}");

    dev.code_login_as_alice().await;
    let tokens = dev.store.session_tokens().await.expect("tokens kept");
    assert!(
        tokens["dpop_key"].is_string(),
        "the session's key is kept: {tokens}"
    );
    let access_token = text_of(&tokens, "access_token");
    assert_eq!(
        dev.userinfo(&access_token).await.status,
        401,
        "a DPoP-bound token is refused as a Bearer token"
    );

    let upstream = dev.call("/api/upstream").await;
    assert_eq!(upstream.status().code, 200);
    let userinfo: Value = upstream.into_json().await.unwrap();
    assert_eq!(userinfo["sub"], ALICE);
    let demo = dev.call("/api/demo/hello").await;
    assert_eq!(demo.status().code, 200);
    let demo: Value = demo.into_json().await.unwrap();
    assert_eq!(demo["sub"], ALICE);
}
/// `cargo run` as it is (`PAR=auto`, the development IdP has the endpoint): the request is
/// pushed, and the login completes.
#[rocket::async_test]
async fn by_default_the_request_is_pushed_to_the_dev_idp_and_the_login_completes() {
    let dev = start_with(|f| f.merge(("oidc.par", "auto"))).await;
    let login = query(&dev.login_url().await);
    assert!(
        login.contains_key("request_uri") && !login.contains_key("nonce"),
        "{login:?}"
    );
    dev.login_as_alice().await;
    assert_eq!(dev.call_api().await.status().code, 200);
}
