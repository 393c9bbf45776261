//! RP-initiated logout: which requests end the IdP session, and where the browser may go next.

use crate::support::*;

#[rocket::async_test]
async fn end_session_refuses_unregistered_uris_and_forged_hints_without_ending_the_session() {
    let idp = start().await;
    let (cookie, id_token) = idp.login_as_alice().await;
    for wrong in [
        "https://evil.example/",
        "http://localhost:3000",
        "http://localhost:3000/callback",
    ] {
        let page = idp
            .get(
                &idp.end_session_url(&[
                    ("client_id", CLIENT_ID),
                    ("post_logout_redirect_uri", wrong),
                ]),
                Some(&cookie),
            )
            .await;
        assert_eq!(page.status, 400, "{wrong}");
        assert!(page.location.is_none());
        assert!(page.body.contains(BANNER));
    }
    let forged = format!("{}.e30.c2ln", id_token.split('.').next().unwrap());
    let page = idp
        .get(
            &idp.end_session_url(&[
                ("id_token_hint", &forged),
                ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
            ]),
            Some(&cookie),
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none());
    // A redirect URI with no client named is refused too.
    let page = idp
        .get(
            &idp.end_session_url(&[("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI)]),
            Some(&cookie),
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none());
    // None of the refused requests ended the IdP session.
    let still = idp.get(&idp.authorize_url(&[]), Some(&cookie)).await;
    assert!(field(&still.body, "id_token").is_some());
}

#[rocket::async_test]
async fn end_session_with_client_hint_and_registered_uri_ends_the_session_and_returns_with_the_state(
) {
    let idp = start().await;
    let (cookie, id_token) = idp.login_as_alice().await;
    // What oidc-bff's logout sends, plus a state.
    let url = idp.end_session_url(&[
        ("client_id", CLIENT_ID),
        ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
        ("id_token_hint", &id_token),
        ("state", "bye"),
    ]);
    let page = idp.get(&url, Some(&cookie)).await;
    assert_eq!(page.status, 303);
    assert_eq!(
        page.location.as_deref(),
        Some("http://localhost:3000/?state=bye")
    );
    assert!(page
        .set_cookie
        .iter()
        .any(|c| c.starts_with("devidp_session=;")));
    // The IdP session is over: the next login asks for the password again.
    let next = idp.get(&idp.authorize_url(&[]), Some(&cookie)).await;
    assert!(next.body.contains(r#"id="password""#));
}

#[rocket::async_test]
async fn end_session_by_post_or_without_a_redirect_uri_ends_the_session_on_a_signed_out_page() {
    let idp = start().await;
    let (cookie, id_token) = idp.login_as_alice().await;
    let page = idp
        .get(&format!("{}/end_session", idp.url), Some(&cookie))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.location.is_none());
    assert!(page.body.contains("signed out"), "{}", page.body);
    let next = idp.get(&idp.authorize_url(&[]), Some(&cookie)).await;
    assert!(next.body.contains(r#"id="password""#));

    let (cookie, _) = idp.login_as_alice().await;
    let response = idp
        .http
        .post(format!("{}/end_session", idp.url))
        .header("cookie", &cookie)
        .form(&[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
        ])
        .send()
        .await
        .unwrap();
    let page = crate::support::page(response).await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location.as_deref(), Some(POST_LOGOUT_REDIRECT_URI));
    let next = idp.get(&idp.authorize_url(&[]), Some(&cookie)).await;
    assert!(next.body.contains(r#"id="password""#));
}

#[rocket::async_test]
async fn end_session_refuses_a_parameter_sent_twice() {
    let idp = start().await;
    let (cookie, _) = idp.login_as_alice().await;
    let url = format!(
        "{}/end_session?client_id={CLIENT_ID}&client_id={CLIENT_ID}",
        idp.url
    );
    let page = idp.get(&url, Some(&cookie)).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("client_id"));
    let still = idp.get(&idp.authorize_url(&[]), Some(&cookie)).await;
    assert!(field(&still.body, "id_token").is_some());
}
