//! `acr_values=mfa`: the second factor after the password, `acr`/`amr` in ID tokens, and the
//! demo API that asks for it with an RFC 9470 step-up challenge.

use crate::support::*;

const WRONG_CODE: &str = "000000";
const DEMO_CODE: &str = "123456";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[rocket::async_test]
async fn discovery_advertises_the_two_authentication_context_classes() {
    let idp = start().await;
    let discovery = idp
        .get_with_token(
            &format!("{}/.well-known/openid-configuration", idp.url),
            None,
        )
        .await
        .json;
    assert_eq!(
        discovery["acr_values_supported"],
        serde_json::json!(["pwd", "mfa"])
    );
}

#[rocket::async_test]
async fn a_password_sign_in_is_acr_pwd() {
    let idp = start().await;
    let (_, id_token) = idp.login_as_alice().await;
    let claims = claims(&id_token);
    assert_eq!(claims["acr"], "pwd");
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
}

#[rocket::async_test]
async fn acr_values_mfa_asks_for_the_one_time_code_after_the_password() {
    let idp = start().await;
    let url = idp.authorize_url(&[("acr_values", Some("mfa"))]);
    let (page, cookie) = idp.sign_in(&url, "alice", None).await;
    assert!(page.body.contains(r#"id="one_time_code""#), "{}", page.body);
    assert!(
        field(&page.body, "id_token").is_none(),
        "no token before the second factor"
    );

    let wrong = idp
        .submit_with_cookie(
            &page,
            &[("action", "second_factor"), ("one_time_code", WRONG_CODE)],
            &cookie,
        )
        .await;
    assert!(wrong.body.contains(r#"id="error""#));
    assert!(field(&wrong.body, "id_token").is_none());

    let done = idp
        .submit_with_cookie(
            &page,
            &[("action", "second_factor"), ("one_time_code", DEMO_CODE)],
            &cookie,
        )
        .await;
    let claims = claims(&field(&done.body, "id_token").expect("an ID token after the code"));
    assert_eq!(claims["acr"], "mfa");
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert!(claims["auth_time"].as_i64().unwrap() >= now() - 5);
}

#[rocket::async_test]
async fn the_code_step_needs_the_idp_session_the_password_started() {
    let idp = start().await;
    let url = idp.authorize_url(&[("acr_values", Some("mfa"))]);
    let (page, _) = idp.sign_in(&url, "alice", None).await;
    let without = idp
        .submit_with_cookie(
            &page,
            &[("action", "second_factor"), ("one_time_code", DEMO_CODE)],
            "devidp_session=forged",
        )
        .await;
    assert!(field(&without.body, "id_token").is_none());
    assert!(
        without.body.contains(r#"id="password""#),
        "back to the password"
    );
}

#[rocket::async_test]
async fn within_a_password_session_mfa_asks_only_for_the_code_and_prompt_none_fails() {
    let idp = start().await;
    let (cookie, _) = idp.login_as_alice().await;
    let page = idp
        .get(
            &idp.authorize_url(&[("acr_values", Some("mfa"))]),
            Some(&cookie),
        )
        .await;
    assert!(page.body.contains(r#"id="one_time_code""#));
    assert!(!page.body.contains(r#"id="password""#));
    let silent = idp
        .get(
            &idp.authorize_url(&[("acr_values", Some("mfa")), ("prompt", Some("none"))]),
            Some(&cookie),
        )
        .await;
    assert_eq!(
        field(&silent.body, "error").as_deref(),
        Some("interaction_required")
    );
    // `pwd` among the values: the password is enough.
    let either = idp
        .get(
            &idp.authorize_url(&[("acr_values", Some("mfa pwd"))]),
            Some(&cookie),
        )
        .await;
    assert_eq!(
        claims(&field(&either.body, "id_token").unwrap())["acr"],
        "pwd"
    );
}

#[rocket::async_test]
async fn the_demo_api_greets_with_or_without_a_token_and_refuses_an_unknown_one() {
    let idp = start().await;
    let hello = format!("{}/demo-api/hello", idp.url);
    let anonymous = idp.get_with_token(&hello, None).await;
    assert_eq!(anonymous.status, 200);
    assert!(anonymous.json.get("sub").is_none());

    let (code, _) = idp.code_for_alice(None).await;
    let tokens = idp.redeem(&code, VERIFIER).await;
    let access_token = text_of(&tokens.json, "access_token");
    let known = idp.get_with_token(&hello, Some(&access_token)).await;
    assert_eq!(known.status, 200);
    assert_eq!(known.json["sub"], ALICE);
    assert_eq!(known.json["acr"], "pwd");

    let unknown = idp.get_with_token(&hello, Some("made-up")).await;
    assert_eq!(unknown.status, 401);
    assert!(unknown
        .www_authenticate
        .unwrap()
        .contains(r#"error="invalid_token""#));
}

#[rocket::async_test]
async fn the_sensitive_demo_api_sends_a_step_up_challenge_until_the_second_factor() {
    let idp = start().await;
    let sensitive = format!("{}/demo-api/sensitive", idp.url);
    let (code, cookie) = idp.code_for_alice(None).await;
    let weak = text_of(&idp.redeem(&code, VERIFIER).await.json, "access_token");
    let refused = idp.get_with_token(&sensitive, Some(&weak)).await;
    assert_eq!(refused.status, 401);
    let challenge = refused.www_authenticate.unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_user_authentication""#),
        "{challenge}"
    );
    assert!(challenge.contains(r#"acr_values="mfa""#), "{challenge}");

    let page = idp
        .get(&idp.code_url(&[("acr_values", Some("mfa"))]), Some(&cookie))
        .await;
    let done = idp
        .submit_with_cookie(
            &page,
            &[("action", "second_factor"), ("one_time_code", DEMO_CODE)],
            &cookie,
        )
        .await;
    let code = field(&done.body, "code").expect("a code after the second factor");
    let strong = text_of(&idp.redeem(&code, VERIFIER).await.json, "access_token");
    let accepted = idp.get_with_token(&sensitive, Some(&strong)).await;
    assert_eq!(accepted.status, 200, "{accepted:?}");
    assert_eq!(accepted.json["acr"], "mfa");

    let anonymous = idp.get_with_token(&sensitive, None).await;
    assert_eq!(anonymous.status, 401);
}
