//! The sign-in page, what a successful sign-in posts back for each response type, cancel, and
//! the IdP session that spares the password next time.

use serde_json::json;

use crate::support::*;

#[rocket::async_test]
async fn the_sign_in_page_lists_the_demo_accounts_with_their_passwords() {
    let idp = start().await;
    let page = idp.get(&idp.authorize_url(&[]), None).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(BANNER));
    for id in [
        r#"id="username""#,
        r#"id="password""#,
        r#"id="sign-in""#,
        r#"id="cancel""#,
    ] {
        assert!(page.body.contains(id), "{id}");
    }
    for (user, name) in [
        ("alice", "Alice Liddell"),
        ("bob", "Bob Builder"),
        ("carol", "Carol Danvers"),
    ] {
        assert!(page.body.contains(name));
        assert!(page.body.contains(&format!("password <code>{user}</code>")));
    }
    assert!(
        !page.body.contains("https://"),
        "nothing is loaded from the internet"
    );
    assert!(!page.body.contains("<script>"), "no inline script");
    let csp = page.csp.expect("Content-Security-Policy");
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
}

#[rocket::async_test]
async fn a_wrong_password_is_refused_and_the_form_shown_again() {
    let idp = start().await;
    let sign_in = idp.get(&idp.authorize_url(&[]), None).await;
    for (username, password) in [("alice", "bob"), ("alice", ""), ("mallory", "mallory")] {
        let page = idp
            .submit_sign_in(&sign_in, &[("username", username), ("password", password)])
            .await;
        assert!(page.body.contains(r#"id="error""#), "{username}/{password}");
        assert!(page.body.contains(r#"id="password""#));
        assert!(field(&page.body, "id_token").is_none());
        assert!(idp_cookie(&page).is_none(), "no IdP session");
    }
}

#[rocket::async_test]
async fn an_id_token_sign_in_posts_an_id_token_with_the_nonce_and_profile_to_the_client() {
    let idp = start().await;
    let sign_in = idp.get(&idp.authorize_url(&[]), None).await;
    assert_eq!(sign_in.status, 200);
    let form_post = idp
        .submit_sign_in(&sign_in, &[("username", "alice"), ("password", "alice")])
        .await;
    assert_eq!(form_post.status, 200);
    assert_eq!(form_action(&form_post.body).as_deref(), Some(REDIRECT_URI));
    assert!(form_post.body.contains(r#"src="/assets/form_post.js""#));
    assert!(form_post.body.contains(r#"id="continue""#));
    assert!(idp_cookie(&form_post).is_some());
    assert_eq!(
        field(&form_post.body, "state").as_deref(),
        Some("state-123")
    );
    assert!(field(&form_post.body, "code").is_none());
    let claims = claims(&field(&form_post.body, "id_token").expect("id_token"));
    assert_eq!(claims["iss"], idp.url);
    assert_eq!(claims["aud"], json!([CLIENT_ID]));
    assert_eq!(claims["nonce"], "nonce-456");
    assert_eq!(claims["sub"], ALICE);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    for claim in [
        "sub",
        "auth_time",
        "sid",
        "name",
        "given_name",
        "family_name",
        "email",
        "email_verified",
        "picture",
        "preferred_username",
    ] {
        assert!(claims.get(claim).is_some(), "{claim} in {claims}");
    }
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["name"], "Alice Liddell");
}

#[rocket::async_test]
async fn a_code_sign_in_posts_the_code_the_state_and_the_issuer_but_no_token() {
    let idp = start().await;
    let (form_post, _) = idp.sign_in(&idp.code_url(&[]), "alice", None).await;
    assert_eq!(form_post.status, 200);
    assert_eq!(form_action(&form_post.body).as_deref(), Some(REDIRECT_URI));
    assert!(field(&form_post.body, "code").is_some_and(|c| c.len() >= 43));
    assert!(field(&form_post.body, "id_token").is_none());
    assert!(field(&form_post.body, "access_token").is_none());
    assert_eq!(
        field(&form_post.body, "state").as_deref(),
        Some("state-123")
    );
    assert_eq!(field(&form_post.body, "iss"), Some(idp.url.clone()));
}

#[rocket::async_test]
async fn a_hybrid_sign_in_posts_an_id_token_bound_to_the_code() {
    let idp = start().await;
    let url = idp.code_url(&[("response_type", Some("code id_token"))]);
    let (form_post, _) = idp.sign_in(&url, "alice", None).await;
    let code = field(&form_post.body, "code").expect("code");
    let claims = claims(&field(&form_post.body, "id_token").expect("id_token"));
    assert_eq!(claims["c_hash"], half_hash(&code));
    assert_eq!(claims["nonce"], "nonce-456");
    assert_eq!(claims["sub"], ALICE);
    // The code still needs the verifier, and its tokens are alice's.
    let tokens = idp.redeem(&code, VERIFIER).await;
    assert_eq!(tokens.status, 200, "{tokens:?}");
    let userinfo = idp.userinfo(&text_of(&tokens.json, "access_token")).await;
    assert_eq!(userinfo.json["email"], "alice@example.com");
}

#[rocket::async_test]
async fn cancel_posts_access_denied_back_to_the_client() {
    let idp = start().await;
    let sign_in = idp.get(&idp.authorize_url(&[]), None).await;
    let page = idp.submit_sign_in(&sign_in, &[("action", "cancel")]).await;
    assert_eq!(field(&page.body, "error").as_deref(), Some("access_denied"));
    assert_eq!(form_action(&page.body).as_deref(), Some(REDIRECT_URI));
    assert_eq!(field(&page.body, "state").as_deref(), Some("state-123"));
    assert!(field(&page.body, "id_token").is_none());
    assert!(idp_cookie(&page).is_none(), "no IdP session");
}

#[rocket::async_test]
async fn a_second_login_in_the_idp_session_skips_the_password_unless_prompt_login() {
    let idp = start().await;
    let (cookie, _) = idp.login_as_alice().await;
    let again = idp
        .get(
            &idp.authorize_url(&[("nonce", Some("nonce-789"))]),
            Some(&cookie),
        )
        .await;
    assert!(!again.body.contains(r#"id="password""#));
    let id_token = field(&again.body, "id_token").expect("id_token without a password");
    assert_eq!(claims(&id_token)["nonce"], "nonce-789");
    assert_eq!(claims(&id_token)["sub"], ALICE);

    let forced = idp
        .get(
            &idp.authorize_url(&[("prompt", Some("login"))]),
            Some(&cookie),
        )
        .await;
    assert!(forced.body.contains(r#"id="password""#));
    let silent = idp
        .get(&idp.authorize_url(&[("prompt", Some("none"))]), None)
        .await;
    assert_eq!(
        field(&silent.body, "error").as_deref(),
        Some("login_required")
    );
}
