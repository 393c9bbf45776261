//! Revocation (RFC 7009).

use crate::support::*;

#[rocket::async_test]
async fn revocation_needs_the_client_and_a_refresh_token_takes_its_access_tokens_along() {
    let idp = start().await;
    let (code, _) = idp.code_for_alice(None).await;
    let tokens = idp.redeem(&code, VERIFIER).await.json;
    let access_token = text_of(&tokens, "access_token");
    let refresh_token = text_of(&tokens, "refresh_token");
    let unauthenticated = idp
        .back_channel("/revoke", Auth::None, &[("token", &refresh_token)])
        .await;
    assert_eq!(unauthenticated.status, 401);
    assert_eq!(unauthenticated.json["error"], "invalid_client");
    let unknown = idp
        .back_channel("/revoke", BASIC, &[("token", "never-issued")])
        .await;
    assert_eq!(unknown.status, 200, "unknown tokens are fine (RFC 7009)");
    let missing = idp.back_channel("/revoke", BASIC, &[]).await;
    assert_eq!(missing.json["error"], "invalid_request");
    assert_eq!(idp.userinfo(&access_token).await.status, 200);
    let revoked = idp
        .back_channel(
            "/revoke",
            Auth::Post(CLIENT_ID, CLIENT_SECRET),
            &[
                ("token", &refresh_token),
                ("token_type_hint", "refresh_token"),
            ],
        )
        .await;
    assert_eq!(revoked.status, 200);
    assert_eq!(idp.userinfo(&access_token).await.status, 401);
    assert_eq!(
        idp.refresh(&refresh_token).await.json["error"],
        "invalid_grant"
    );
}

#[rocket::async_test]
async fn revoking_an_access_token_leaves_its_refresh_token_working() {
    let idp = start().await;
    let (code, _) = idp.code_for_alice(None).await;
    let tokens = idp.redeem(&code, VERIFIER).await.json;
    let access_token = text_of(&tokens, "access_token");
    let revoked = idp
        .back_channel(
            "/revoke",
            BASIC,
            &[
                ("token", &access_token),
                ("token_type_hint", "access_token"),
            ],
        )
        .await;
    assert_eq!(revoked.status, 200);
    assert_eq!(idp.userinfo(&access_token).await.status, 401);
    let refreshed = idp.refresh(&text_of(&tokens, "refresh_token")).await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
}
