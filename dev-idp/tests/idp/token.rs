//! The token endpoint: client authentication, the authorization_code grant with PKCE, and
//! refresh with rotation.

use serde_json::json;

use crate::support::*;

#[rocket::async_test]
async fn the_token_endpoint_redeems_a_code_once_with_its_verifier_for_tokens() {
    let idp = start().await;
    let (code, _) = idp.code_for_alice(None).await;
    let answer = idp.redeem(&code, VERIFIER).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
    let tokens = answer.json;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 300);
    assert_eq!(tokens["scope"], "openid profile email");
    let access_token = text_of(&tokens, "access_token");
    assert!(access_token.len() >= 43);
    assert_ne!(text_of(&tokens, "refresh_token"), access_token);
    let claims = claims(&text_of(&tokens, "id_token"));
    assert_eq!(claims["at_hash"], half_hash(&access_token));
    assert_eq!(claims["nonce"], "nonce-456");
    assert_eq!(claims["iss"], idp.url);
    assert_eq!(claims["aud"], json!([CLIENT_ID]));
    assert_eq!(claims["name"], "Alice Liddell");
    assert_eq!(claims["email"], "alice@example.com");
    let userinfo = idp.userinfo(&access_token).await;
    assert_eq!(userinfo.status, 200);
    assert_eq!(userinfo.json["sub"], ALICE);
}

#[rocket::async_test]
async fn client_secret_post_authenticates_too() {
    let idp = start().await;
    let (code, _) = idp.code_for_alice(None).await;
    let auth = Auth::Post(CLIENT_ID, CLIENT_SECRET);
    let answer = idp.redeem_as(auth, &code, REDIRECT_URI, VERIFIER).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.json["access_token"].is_string());
}

#[rocket::async_test]
async fn a_wrong_secret_or_no_client_authentication_is_an_invalid_client() {
    let idp = start().await;
    let (code, _) = idp.code_for_alice(None).await;
    for auth in [
        Auth::Basic(CLIENT_ID, "wrong"),
        Auth::Basic("someone-else", CLIENT_SECRET),
        Auth::Post(CLIENT_ID, "wrong"),
        Auth::None,
    ] {
        let answer = idp.redeem_as(auth, &code, REDIRECT_URI, VERIFIER).await;
        assert_eq!(answer.status, 401, "{auth:?}");
        assert_eq!(answer.json["error"], "invalid_client");
        assert!(answer
            .www_authenticate
            .as_deref()
            .is_some_and(|w| w.starts_with("Basic ")));
        assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
    }
    // An unauthenticated attempt does not spend the code.
    assert_eq!(idp.redeem(&code, VERIFIER).await.status, 200);
}

#[rocket::async_test]
async fn a_wrong_verifier_or_redirect_uri_is_an_invalid_grant_and_spends_the_code() {
    let idp = start().await;
    let (code, cookie) = idp.code_for_alice(None).await;
    let other_verifier = "a-verifier-that-is-long-enough-but-not-the-right-one-0123";
    let answer = idp.redeem(&code, other_verifier).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json["error"], "invalid_grant");
    assert!(answer.json["error_description"].is_string());
    assert_eq!(
        idp.redeem(&code, VERIFIER).await.json["error"],
        "invalid_grant"
    );

    let (code, _) = idp.code_for_alice(Some(&cookie)).await;
    let answer = idp
        .redeem_as(BASIC, &code, "http://localhost:3000/elsewhere", VERIFIER)
        .await;
    assert_eq!(answer.json["error"], "invalid_grant");

    let (code, _) = idp.code_for_alice(Some(&cookie)).await;
    let answer = idp
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
        ])
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json["error"], "invalid_request", "no code_verifier");
}

#[rocket::async_test]
async fn a_reused_code_is_refused_and_revokes_the_tokens_of_its_first_use() {
    let idp = start().await;
    let (code, _) = idp.code_for_alice(None).await;
    let first = idp.redeem(&code, VERIFIER).await.json;
    let access_token = text_of(&first, "access_token");
    assert_eq!(idp.userinfo(&access_token).await.status, 200);
    let again = idp.redeem(&code, VERIFIER).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.json["error"], "invalid_grant");
    assert_eq!(idp.userinfo(&access_token).await.status, 401);
    let refresh = idp.refresh(&text_of(&first, "refresh_token")).await;
    assert_eq!(refresh.json["error"], "invalid_grant");
}

#[rocket::async_test]
async fn other_grant_types_and_malformed_requests_are_refused() {
    let idp = start().await;
    let other = idp.token(&[("grant_type", "client_credentials")]).await;
    assert_eq!(other.status, 400);
    assert_eq!(other.json["error"], "unsupported_grant_type");
    for form in [
        vec![],
        vec![("grant_type", "authorization_code")],
        vec![("grant_type", "refresh_token")],
        vec![
            ("grant_type", "refresh_token"),
            ("grant_type", "refresh_token"),
        ],
    ] {
        let refused = idp.token(&form).await;
        assert_eq!(refused.status, 400, "{form:?}");
        assert_eq!(refused.json["error"], "invalid_request", "{form:?}");
    }
    let guessed = idp
        .token(&[("grant_type", "refresh_token"), ("refresh_token", "guess")])
        .await;
    assert_eq!(guessed.json["error"], "invalid_grant");
    // Basic and client_secret at once: two authentication methods.
    let twice = idp
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_secret", CLIENT_SECRET),
        ])
        .await;
    assert_eq!(twice.json["error"], "invalid_request");
    // A JSON body is not a token request.
    let response = idp
        .http
        .post(format!("{}/token", idp.url))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .header("content-type", "application/json")
        .body(json!({"grant_type": "refresh_token"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(answer(response).await.json["error"], "invalid_request");
}

#[rocket::async_test]
async fn refresh_rotates_the_refresh_token_and_issues_a_new_access_token() {
    let idp = start().await;
    let (code, _) = idp.code_for_alice(None).await;
    let first = idp.redeem(&code, VERIFIER).await.json;
    let refreshed = idp.refresh(&text_of(&first, "refresh_token")).await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
    assert_eq!(refreshed.cache_control.as_deref(), Some("no-store"));
    let second = refreshed.json;
    assert_eq!(second["token_type"], "Bearer");
    assert_ne!(second["access_token"], first["access_token"]);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    let userinfo = idp.userinfo(&text_of(&second, "access_token")).await;
    assert_eq!(userinfo.json["sub"], ALICE);
    // The old refresh token is spent; the new one works once.
    let old = idp.refresh(&text_of(&first, "refresh_token")).await;
    assert_eq!(old.status, 400);
    assert_eq!(old.json["error"], "invalid_grant");
    let third = idp.refresh(&text_of(&second, "refresh_token")).await.json;
    assert!(third["refresh_token"].is_string());
    let again = idp.refresh(&text_of(&second, "refresh_token")).await;
    assert_eq!(again.json["error"], "invalid_grant");
    // A narrower scope is allowed for the access token, a wider one is not.
    let wider = idp
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &text_of(&third, "refresh_token")),
            ("scope", "openid phone"),
        ])
        .await;
    assert_eq!(wider.status, 400);
    assert_eq!(wider.json["error"], "invalid_scope");
    let narrower = idp
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &text_of(&third, "refresh_token")),
            ("scope", "openid"),
        ])
        .await;
    assert_eq!(narrower.json["scope"], "openid");
    let userinfo = idp.userinfo(&text_of(&narrower.json, "access_token")).await;
    assert_eq!(userinfo.json, json!({"sub": ALICE}));
}
