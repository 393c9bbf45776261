//! UserInfo: bearer token rules and claims per scope.

use std::time::Duration;

use dev_idp::{Client, Lifetimes};
use serde_json::json;

use crate::support::*;

#[rocket::async_test]
async fn userinfo_needs_a_valid_bearer_token_and_answers_per_scope() {
    let idp = start_with(
        vec![Client::for_app(CLIENT_ID, CLIENT_SECRET, APP)],
        Lifetimes::with_access_token_ttl(Duration::from_secs(1)),
    )
    .await;
    let url = idp.code_url(&[("scope", Some("openid email"))]);
    let (form_post, _) = idp.sign_in(&url, "bob", None).await;
    let code = field(&form_post.body, "code").unwrap();
    let tokens = idp.redeem(&code, VERIFIER).await.json;
    assert_eq!(tokens["expires_in"], 1, "the access token lifetime");
    let access_token = text_of(&tokens, "access_token");
    let userinfo = idp.userinfo(&access_token).await;
    assert_eq!(
        userinfo.json,
        json!({"sub": "dev-5b9e0d41-bob", "email": "bob@example.com", "email_verified": true})
    );
    // By POST, with the token in the body (RFC 6750 §2.2).
    let response = idp
        .http
        .post(format!("{}/userinfo", idp.url))
        .form(&[("access_token", access_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer(response).await.json["sub"], "dev-5b9e0d41-bob");

    let missing = answer(
        idp.http
            .get(format!("{}/userinfo", idp.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(missing.status, 401);
    let challenge = missing.www_authenticate.unwrap();
    assert!(challenge.starts_with("Bearer") && !challenge.contains("error="));
    for token in ["guess", text_of(&tokens, "refresh_token").as_str()] {
        let refused = idp.userinfo(token).await;
        assert_eq!(refused.status, 401);
        assert!(refused
            .www_authenticate
            .unwrap()
            .starts_with(r#"Bearer error="invalid_token""#));
    }
    // Expired after its 1 s: polled (a token's use does not extend it) rather than slept
    // through, so that where the second boundary falls does not matter.
    let issued = std::time::Instant::now();
    let expired = loop {
        let answer = idp.userinfo(&access_token).await;
        if answer.status != 200 || issued.elapsed() > Duration::from_secs(3) {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(expired.status, 401, "expired after 1 s");
}

#[rocket::async_test]
async fn userinfo_with_the_profile_scope_has_the_whole_profile() {
    let idp = start().await;
    let (code, _) = idp.code_for_alice(None).await;
    let tokens = idp.redeem(&code, VERIFIER).await.json;
    let userinfo = idp.userinfo(&text_of(&tokens, "access_token")).await;
    assert_eq!(userinfo.status, 200);
    assert_eq!(
        userinfo.json,
        json!({
            "sub": ALICE,
            "name": "Alice Liddell",
            "given_name": "Alice",
            "family_name": "Liddell",
            "preferred_username": "alice",
            "picture": format!("{}/avatars/alice.svg", idp.url),
            "email": "alice@example.com",
            "email_verified": true,
        })
    );
}
