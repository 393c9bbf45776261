//! The code and hybrid flows at the development IdP: the upstream API is its UserInfo, the
//! app refreshes there (keeping the rotated refresh token) and revokes at logout.

use dev_idp::testing::field;
use serde_json::{json, Value};

use super::{claims, half_hash, query, start_code, start_with, text_of, ALICE};
use crate::helpers;
use crate::helpers::bff::DEFAULT_CLIENT_SECRET;

#[rocket::async_test]
async fn a_code_login_ends_with_a_session_whose_upstream_api_is_the_dev_idps_userinfo() {
    assert_eq!(
        DEFAULT_CLIENT_SECRET, "oidc-bff-dev-secret",
        "as documented"
    );
    let dev = start_code("code").await;
    let login = query(&dev.login_url().await);
    assert_eq!(login["response_type"], "code");
    assert_eq!(login["code_challenge_method"], "S256");
    let form_post = dev.code_login_as_alice().await;
    // The browser carried a code and the state, never a token.
    assert!(field(&form_post.body, "code").is_some_and(|c| c.len() >= 43));
    assert!(field(&form_post.body, "id_token").is_none());
    assert_eq!(field(&form_post.body, "iss"), Some(dev.idp.clone()));
    // The app keeps the tokens the token endpoint issued, on the server.
    let tokens = dev.store.session_tokens().await.expect("tokens kept");
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let expires_in = tokens["expires_at"].as_i64().unwrap() - helpers::bff::app_now();
    assert!((295..=300).contains(&expires_in), "{expires_in}");

    let hello = dev.call_api().await;
    assert_eq!(hello.status().code, 200);
    let hello: Value = hello.into_json().await.unwrap();
    assert_eq!(hello["message"], "Hello, Alice Liddell!");
    let upstream = dev.call("/api/upstream").await;
    assert_eq!(upstream.status().code, 200);
    let userinfo: Value = upstream.into_json().await.unwrap();
    assert_eq!(
        userinfo,
        json!({
            "sub": ALICE,
            "name": "Alice Liddell",
            "given_name": "Alice",
            "family_name": "Liddell",
            "preferred_username": "alice",
            "picture": format!("{}/avatars/alice.svg", dev.idp),
            "email": "alice@example.com",
            "email_verified": true,
        })
    );
}
#[rocket::async_test]
async fn a_hybrid_login_carries_an_id_token_bound_to_the_code() {
    let dev = start_code("code id_token").await;
    let login = dev.login_url().await;
    assert_eq!(query(&login)["response_type"], "code id_token");
    let sign_in = dev.get(&login, None).await;
    let form_post = dev
        .submit_sign_in(&sign_in, &[("username", "alice"), ("password", "alice")])
        .await;
    let code = field(&form_post.body, "code").expect("code");
    let claims = claims(&field(&form_post.body, "id_token").expect("id_token"));
    assert_eq!(claims["c_hash"], half_hash(&code));
    assert_eq!(claims["nonce"], query(&login)["nonce"].as_str());
    assert_eq!(claims["sub"], ALICE);
    assert_eq!(dev.post_callback(&form_post).await.status().code, 303);
    let upstream = dev.call("/api/upstream").await;
    assert_eq!(upstream.status().code, 200);
    let userinfo: Value = upstream.into_json().await.unwrap();
    assert_eq!(userinfo["email"], "alice@example.com");
}
#[rocket::async_test]
async fn the_app_refreshes_at_the_dev_idp_and_keeps_the_rotated_refresh_token() {
    // 30 s is within the app's 60 s refresh margin: every API call refreshes first.
    let dev = start_with(|f| {
        f.merge(("oidc.response_type", "code"))
            .merge(("oidc.dev_idp_access_token_ttl", 30))
    })
    .await;
    dev.code_login_as_alice().await;
    let before = dev.store.session_tokens().await.unwrap();
    let upstream = dev.call("/api/upstream").await;
    assert_eq!(upstream.status().code, 200);
    let after = dev.store.session_tokens().await.unwrap();
    assert_ne!(after["refresh_token"], before["refresh_token"]);
    assert_ne!(after["access_token"], before["access_token"]);
    let old = dev.refresh(&text_of(&before, "refresh_token")).await;
    assert_eq!(old.json["error"], "invalid_grant", "rotated");
}
#[rocket::async_test]
async fn the_apps_logout_revokes_the_refresh_token_at_the_dev_idp() {
    let dev = start_code("code").await;
    dev.code_login_as_alice().await;
    let tokens = dev.store.session_tokens().await.expect("tokens kept");
    let access_token = text_of(&tokens, "access_token");
    let refresh_token = text_of(&tokens, "refresh_token");
    assert_eq!(dev.userinfo(&access_token).await.status, 200);
    let logout = dev.app.post("/logout").dispatch().await;
    assert_eq!(logout.status().code, 303);
    let refused = dev.refresh(&refresh_token).await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json["error"], "invalid_grant");
    assert_eq!(
        dev.userinfo(&access_token).await.status,
        401,
        "its access tokens went with it"
    );
}
