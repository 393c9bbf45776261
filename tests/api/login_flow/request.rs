//! The authorization request and the cookies a login leaves: the transient cookie's
//! attributes, the session cookie's after a successful login.

use crate::helpers;
use crate::helpers::{app, app_with_idp};

#[rocket::async_test]
async fn login_redirects_to_the_idp_with_a_form_post_id_token_request() {
    let app = app().await;
    let start = app.start_login("/").await;
    let p = &start.params;
    assert_eq!(p["response_type"], "id_token");
    assert_eq!(p["response_mode"], "form_post");
    assert_eq!(p["client_id"], helpers::CLIENT_ID);
    assert_eq!(p["redirect_uri"], "http://localhost:3000/callback");
    assert_eq!(p["scope"], "openid profile email");
    // 256 bits of randomness each, base64url.
    assert!(start.state.len() >= 43 && start.nonce.len() >= 43);
    assert_ne!(start.state, start.nonce);
}
#[rocket::async_test]
async fn the_transient_cookie_is_http_only_secure_samesite_none_and_short_lived() {
    let app = app().await;
    let response = app.client.get("/login").dispatch().await;
    let set_cookie: Vec<&str> = response.headers().get("Set-Cookie").collect();
    let login = set_cookie
        .iter()
        .find(|c| c.starts_with("bff_login_"))
        .expect("a transient login cookie");
    for attribute in [
        "HttpOnly",
        "SameSite=None",
        "Secure",
        "Max-Age=600",
        "Path=/",
    ] {
        assert!(login.contains(attribute), "{attribute} in {login}");
    }
}
#[rocket::async_test]
async fn a_successful_login_returns_to_the_start_path_with_a_lax_session_cookie() {
    let app = app().await;
    let start = app.start_login("/profile?tab=claims").await;
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    let response = app
        .callback(&[("id_token", &token), ("state", &start.state)])
        .await;
    assert_eq!(response.status().code, 303);
    assert_eq!(
        response.headers().get_one("Location"),
        Some("/profile?tab=claims")
    );
    let set_cookie: Vec<&str> = response.headers().get("Set-Cookie").collect();
    let session = set_cookie
        .iter()
        .find(|c| c.starts_with("bff_session="))
        .expect("session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert!(
        !session.contains("Secure"),
        "plain-http localhost development: {session}"
    );
    assert!(
        set_cookie
            .iter()
            .any(|c| c.starts_with("bff_login_") && c.contains("Max-Age=0")),
        "the transient cookie is deleted: {set_cookie:?}"
    );
}
#[rocket::async_test]
async fn session_cookie_is_secure_when_the_base_url_is_https() {
    let app = app_with_idp(
        |_| {},
        |f| f.merge(("oidc.base_url", "https://app.example")),
    )
    .await;
    let response = app.login().await;
    let set_cookie: Vec<&str> = response.headers().get("Set-Cookie").collect();
    let session = set_cookie
        .iter()
        .find(|c| c.starts_with("__Host-bff_session="))
        .expect("session cookie");
    assert!(session.contains("Secure"), "{session}");
}
