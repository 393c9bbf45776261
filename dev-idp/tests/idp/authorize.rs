//! The authorization endpoint's checks of the request: which errors stay at the IdP (an
//! untrusted client or redirect URI) and which are posted back to the client.

use crate::support::*;

#[rocket::async_test]
async fn an_unknown_client_id_gets_an_error_page_at_the_idp_and_no_redirect() {
    let idp = start().await;
    for client_id in [Some("someone-else"), None] {
        let page = idp
            .get(&idp.authorize_url(&[("client_id", client_id)]), None)
            .await;
        assert_eq!(page.status, 400);
        assert!(page.location.is_none());
        assert!(page.body.contains(BANNER));
        assert!(page.body.contains("client_id"), "{}", page.body);
        assert!(
            form_action(&page.body).is_none(),
            "nothing is posted anywhere"
        );
    }
}

#[rocket::async_test]
async fn an_unregistered_redirect_uri_gets_an_error_page_at_the_idp_and_no_redirect() {
    let idp = start().await;
    for redirect_uri in [
        "https://evil.example/callback",
        "http://localhost:3000/callback/",
        "http://localhost:3000/other",
    ] {
        // Even with another error that would otherwise be sent back to the client.
        let page = idp
            .get(
                &idp.authorize_url(&[
                    ("redirect_uri", Some(redirect_uri)),
                    ("response_type", Some("code")),
                ]),
                None,
            )
            .await;
        assert_eq!(page.status, 400, "{redirect_uri}");
        assert!(page.location.is_none());
        assert!(page.body.contains("redirect_uri"));
        assert!(!page.body.contains("evil.example/callback\" "));
        assert!(
            form_action(&page.body).is_none(),
            "nothing is posted anywhere"
        );
    }
}

#[rocket::async_test]
async fn an_unsupported_response_type_is_posted_back_to_the_client_with_the_state() {
    let idp = start().await;
    let page = idp
        .get(
            &idp.authorize_url(&[("response_type", Some("token"))]),
            None,
        )
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(form_action(&page.body).as_deref(), Some(REDIRECT_URI));
    assert_eq!(
        field(&page.body, "error").as_deref(),
        Some("unsupported_response_type")
    );
    assert!(field(&page.body, "error_description").is_some());
    assert_eq!(field(&page.body, "state").as_deref(), Some("state-123"));
    assert!(field(&page.body, "id_token").is_none());
}

#[rocket::async_test]
async fn a_missing_nonce_openid_scope_or_pkce_challenge_is_posted_back_as_an_error() {
    let idp = start().await;
    for (changes, expected) in [
        (vec![("nonce", None)], "invalid_request"),
        (vec![("scope", Some("profile email"))], "invalid_scope"),
        (vec![("response_mode", Some("fragment"))], "invalid_request"),
        // A code needs PKCE with S256.
        (vec![("response_type", Some("code"))], "invalid_request"),
        (
            vec![
                ("response_type", Some("code id_token")),
                ("code_challenge", Some(CHALLENGE)),
                ("code_challenge_method", Some("plain")),
            ],
            "invalid_request",
        ),
    ] {
        let page = idp.get(&idp.authorize_url(&changes), None).await;
        assert_eq!(
            field(&page.body, "error").as_deref(),
            Some(expected),
            "{changes:?}"
        );
        assert_eq!(field(&page.body, "state").as_deref(), Some("state-123"));
        assert_eq!(form_action(&page.body).as_deref(), Some(REDIRECT_URI));
    }
}
