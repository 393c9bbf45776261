//! Logging in through the development IdP (started by the app built without an issuer),
//! cancelling there, and logging out of both.

use dev_idp::testing::field;
use serde_json::Value;

use super::{claims, idp_cookie, query, start, CLIENT_ID};

#[rocket::async_test]
async fn app_without_issuer_in_a_debug_build_logs_in_at_the_dev_idp() {
    let dev = start().await;
    let login = dev.login_url().await;
    assert!(
        login.starts_with(&format!("{}/authorize?", dev.idp)),
        "{login}"
    );
    let params = query(&login);
    assert_eq!(params["client_id"], "oidc-bff-dev");
    assert_eq!(params["redirect_uri"], "http://localhost:3000/callback");
    assert_eq!(params["response_type"], "id_token");
    assert_eq!(params["response_mode"], "form_post");
}
#[rocket::async_test]
async fn a_full_login_through_the_dev_idp_ends_with_an_app_session() {
    let dev = start().await;
    // The app sends the browser to the IdP ...
    let login = dev.login_url().await;
    let nonce = query(&login)["nonce"].clone();
    let sign_in = dev.get(&login, None).await;
    assert_eq!(sign_in.status, 200);
    // ... where alice signs in with her password ...
    let form_post = dev
        .submit_sign_in(&sign_in, &[("username", "alice"), ("password", "alice")])
        .await;
    assert_eq!(form_post.status, 200);
    assert!(form_post.body.contains(r#"src="/assets/form_post.js""#));
    assert!(form_post.body.contains(r#"id="continue""#));
    assert!(idp_cookie(&form_post).is_some());
    let id_token = field(&form_post.body, "id_token").expect("id_token");
    assert_eq!(
        field(&form_post.body, "state"),
        Some(query(&login)["state"].clone())
    );
    let claims = claims(&id_token);
    assert_eq!(claims["iss"], dev.idp);
    assert_eq!(claims["aud"], serde_json::json!(["oidc-bff-dev"]));
    assert_eq!(claims["nonce"], nonce.as_str());
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
    // ... and the browser posts the response to the app, which starts a session.
    let callback = dev.post_callback(&form_post).await;
    assert_eq!(callback.status().code, 303);
    assert_eq!(callback.headers().get_one("Location"), Some("/"));
    assert!(dev.app.cookies().get("bff_session").is_some());
    let hello = dev.call_api().await;
    assert_eq!(hello.status().code, 200);
    let body: Value = serde_json::from_str(&hello.into_string().await.unwrap()).unwrap();
    assert_eq!(body["name"], "Alice Liddell");
    assert_eq!(body["message"], "Hello, Alice Liddell!");
}
#[rocket::async_test]
async fn cancelling_at_the_dev_idp_leaves_the_app_without_a_session() {
    let dev = start().await;
    let sign_in = dev.get(&dev.login_url().await, None).await;
    let page = dev.submit_sign_in(&sign_in, &[("action", "cancel")]).await;
    assert_eq!(field(&page.body, "error").as_deref(), Some("access_denied"));
    let callback = dev.post_callback(&page).await;
    assert_eq!(callback.status().code, 401);
    assert!(dev.app.cookies().get("bff_session").is_none());
}
#[rocket::async_test]
async fn the_apps_logout_ends_the_dev_idp_session_and_returns_to_the_app() {
    let dev = start().await;
    let (cookie, _) = dev.login_as_alice().await;
    // A second login in the IdP session needs no password, and the app accepts it.
    let again = dev.get(&dev.login_url().await, Some(&cookie)).await;
    assert!(!again.body.contains(r#"id="password""#));
    assert!(field(&again.body, "id_token").is_some());
    assert_eq!(dev.post_callback(&again).await.status().code, 303);

    // The app's own logout goes there with client_id, post_logout_redirect_uri and the hint.
    let logout = dev.app.post("/logout").dispatch().await;
    let location = logout.headers().get_one("Location").unwrap().to_string();
    assert!(
        location.starts_with(&format!("{}/end_session?", dev.idp)),
        "{location}"
    );
    let params = query(&location);
    assert_eq!(params["client_id"], CLIENT_ID);
    assert_eq!(params["post_logout_redirect_uri"], "http://localhost:3000/");
    assert!(params.contains_key("id_token_hint"));
    let page = dev
        .get(&format!("{location}&state=bye"), Some(&cookie))
        .await;
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
    let next = dev.get(&dev.login_url().await, Some(&cookie)).await;
    assert!(next.body.contains(r#"id="password""#));
}
