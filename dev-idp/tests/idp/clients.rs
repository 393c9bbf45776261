//! Several registered clients: each one's codes, tokens, redirect URIs and post-logout URIs
//! are its own; one IdP session signs in to all of them.

use dev_idp::{Client, Lifetimes};
use serde_json::json;

use crate::support::*;

const A: &str = "app-a";
const A_SECRET: &str = "secret-a";
const A_CALLBACK: &str = "http://localhost:8001/callback";
const A_HOME: &str = "http://localhost:8001/";
const B: &str = "app-b";
const B_SECRET: &str = "secret-b";
const B_CALLBACK: &str = "http://localhost:8002/callback";
const B_HOME: &str = "http://localhost:8002/";

async fn two_clients() -> Idp {
    start_with(
        vec![
            Client::for_app(A, A_SECRET, "http://localhost:8001"),
            Client::for_app(B, B_SECRET, "http://localhost:8002/"),
        ],
        Lifetimes::default(),
    )
    .await
}

/// An `id_token` request of `client_id` with `redirect_uri`.
fn id_token_url(idp: &Idp, client_id: &str, redirect_uri: &str) -> String {
    idp.authorize_url(&[
        ("client_id", Some(client_id)),
        ("redirect_uri", Some(redirect_uri)),
    ])
}

/// A code request of `client_id` with its redirect URI.
fn code_url(idp: &Idp, client_id: &str, redirect_uri: &str) -> String {
    idp.code_url(&[
        ("client_id", Some(client_id)),
        ("redirect_uri", Some(redirect_uri)),
    ])
}

#[rocket::async_test]
async fn each_client_gets_its_responses_at_its_own_redirect_uri_with_its_own_audience() {
    let idp = two_clients().await;
    for (client_id, callback) in [(A, A_CALLBACK), (B, B_CALLBACK)] {
        let (form_post, _) = idp
            .sign_in(&id_token_url(&idp, client_id, callback), "alice", None)
            .await;
        assert_eq!(form_action(&form_post.body).as_deref(), Some(callback));
        let id_token = field(&form_post.body, "id_token").expect("id_token");
        assert_eq!(claims(&id_token)["aud"], json!([client_id]));
    }
}

#[rocket::async_test]
async fn another_clients_redirect_uri_is_refused_in_an_authorization_request() {
    let idp = two_clients().await;
    for (client_id, foreign) in [(A, B_CALLBACK), (B, A_CALLBACK)] {
        let page = idp.get(&id_token_url(&idp, client_id, foreign), None).await;
        assert_eq!(page.status, 400, "{client_id} with {foreign}");
        assert!(page.location.is_none());
        assert!(page.body.contains("redirect_uri"));
        assert!(
            form_action(&page.body).is_none(),
            "nothing is posted anywhere"
        );
    }
}

#[rocket::async_test]
async fn a_code_issued_to_one_client_cannot_be_redeemed_by_another() {
    let idp = two_clients().await;
    let (page, cookie) = idp
        .sign_in(&code_url(&idp, A, A_CALLBACK), "alice", None)
        .await;
    let code = field(&page.body, "code").expect("code");
    for redirect_uri in [A_CALLBACK, B_CALLBACK] {
        let stolen = idp
            .redeem_as(Auth::Basic(B, B_SECRET), &code, redirect_uri, VERIFIER)
            .await;
        assert_eq!(stolen.status, 400, "{stolen:?}");
        assert_eq!(stolen.json["error"], "invalid_grant");
        assert!(stolen.json.get("access_token").is_none());
    }
    // Any attempt spends the code (as a wrong verifier does): A must start again.
    let late = idp
        .redeem_as(Auth::Basic(A, A_SECRET), &code, A_CALLBACK, VERIFIER)
        .await;
    assert_eq!(late.json["error"], "invalid_grant");
    let (page, _) = idp
        .sign_in(&code_url(&idp, A, A_CALLBACK), "alice", Some(&cookie))
        .await;
    let code = field(&page.body, "code").expect("code");
    let tokens = idp
        .redeem_as(Auth::Post(A, A_SECRET), &code, A_CALLBACK, VERIFIER)
        .await;
    assert_eq!(tokens.status, 200, "{tokens:?}");
    assert_eq!(
        claims(&text_of(&tokens.json, "id_token"))["aud"],
        json!([A])
    );
    // One client's secret does not authenticate the other.
    let (page, _) = idp
        .sign_in(&code_url(&idp, B, B_CALLBACK), "alice", Some(&cookie))
        .await;
    let code = field(&page.body, "code").expect("code");
    let crossed = idp
        .redeem_as(Auth::Basic(B, A_SECRET), &code, B_CALLBACK, VERIFIER)
        .await;
    assert_eq!(crossed.status, 401);
    assert_eq!(crossed.json["error"], "invalid_client");
}

#[rocket::async_test]
async fn a_clients_tokens_are_neither_refreshed_nor_revoked_by_another_client() {
    let idp = two_clients().await;
    let (page, _) = idp
        .sign_in(&code_url(&idp, A, A_CALLBACK), "alice", None)
        .await;
    let code = field(&page.body, "code").expect("code");
    let tokens = idp
        .redeem_as(Auth::Basic(A, A_SECRET), &code, A_CALLBACK, VERIFIER)
        .await
        .json;
    let access_token = text_of(&tokens, "access_token");
    let refresh_token = text_of(&tokens, "refresh_token");
    let refreshed = idp
        .refresh_as(Auth::Basic(B, B_SECRET), &refresh_token)
        .await;
    assert_eq!(refreshed.status, 400);
    assert_eq!(refreshed.json["error"], "invalid_grant");
    for token in [&refresh_token, &access_token] {
        let revoked = idp
            .back_channel("/revoke", Auth::Basic(B, B_SECRET), &[("token", token)])
            .await;
        assert_eq!(revoked.status, 200, "answered as for an unknown token");
    }
    assert_eq!(idp.userinfo(&access_token).await.status, 200);
    let refreshed = idp
        .refresh_as(Auth::Basic(A, A_SECRET), &refresh_token)
        .await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");
}

#[rocket::async_test]
async fn one_idp_session_signs_in_to_every_client() {
    let idp = two_clients().await;
    let (_, cookie) = idp
        .sign_in(&id_token_url(&idp, A, A_CALLBACK), "bob", None)
        .await;
    let page = idp
        .get(&id_token_url(&idp, B, B_CALLBACK), Some(&cookie))
        .await;
    assert!(!page.body.contains(r#"id="password""#));
    assert_eq!(form_action(&page.body).as_deref(), Some(B_CALLBACK));
    let claims = claims(&field(&page.body, "id_token").expect("id_token"));
    assert_eq!(claims["aud"], json!([B]));
    assert_eq!(claims["sub"], "dev-5b9e0d41-bob");
}

#[rocket::async_test]
async fn end_session_returns_to_the_named_clients_own_post_logout_uri_and_refuses_anothers() {
    let idp = two_clients().await;
    let (_, cookie) = idp
        .sign_in(&id_token_url(&idp, A, A_CALLBACK), "alice", None)
        .await;
    for (client_id, foreign) in [(A, B_HOME), (B, A_HOME)] {
        let page = idp
            .get(
                &idp.end_session_url(&[
                    ("client_id", client_id),
                    ("post_logout_redirect_uri", foreign),
                ]),
                Some(&cookie),
            )
            .await;
        assert_eq!(page.status, 400, "{client_id} to {foreign}");
        assert!(page.location.is_none());
    }
    let still = idp
        .get(&id_token_url(&idp, A, A_CALLBACK), Some(&cookie))
        .await;
    assert!(field(&still.body, "id_token").is_some(), "still signed in");
    let page = idp
        .get(
            &idp.end_session_url(&[("client_id", B), ("post_logout_redirect_uri", B_HOME)]),
            Some(&cookie),
        )
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location.as_deref(), Some(B_HOME));
    let next = idp
        .get(&id_token_url(&idp, A, A_CALLBACK), Some(&cookie))
        .await;
    assert!(next.body.contains(r#"id="password""#), "signed out of all");
}

#[rocket::async_test]
async fn an_id_token_hint_identifies_the_client_when_client_id_is_absent() {
    let idp = two_clients().await;
    let (page, cookie) = idp
        .sign_in(&id_token_url(&idp, B, B_CALLBACK), "alice", None)
        .await;
    let hint = field(&page.body, "id_token").expect("id_token");
    // The hint names B: A's post-logout URI is not B's, and a client_id of A contradicts it.
    for params in [
        vec![
            ("id_token_hint", hint.as_str()),
            ("post_logout_redirect_uri", A_HOME),
        ],
        vec![
            ("client_id", A),
            ("id_token_hint", hint.as_str()),
            ("post_logout_redirect_uri", A_HOME),
        ],
    ] {
        let page = idp.get(&idp.end_session_url(&params), Some(&cookie)).await;
        assert_eq!(page.status, 400, "{params:?}");
        assert!(page.location.is_none());
    }
    let page = idp
        .get(
            &idp.end_session_url(&[
                ("id_token_hint", &hint),
                ("post_logout_redirect_uri", B_HOME),
                ("state", "s1"),
            ]),
            Some(&cookie),
        )
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location.as_deref(),
        Some("http://localhost:8002/?state=s1")
    );
}
