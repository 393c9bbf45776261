//! Logout: the cookie cleared, the IdP's end-session endpoint with the encrypted ID token as
//! hint (never another session's), a replayed cookie refused, cross-site logout refused.

use rocket::http::Header;

use super::api_with_cookie;
use crate::helpers;
use crate::helpers::app;

#[rocket::async_test]
async fn logout_clears_the_cookie_and_goes_to_the_idps_end_session_endpoint() {
    let app = app().await;
    let start = app.start_login("/").await;
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    app.callback(&[("id_token", &token), ("state", &start.state)])
        .await;
    let response = app.client.post("/logout").dispatch().await;
    assert_eq!(response.status().code, 303);
    let location = url::Url::parse(response.headers().get_one("Location").unwrap()).unwrap();
    assert_eq!(location.path(), "/logout");
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], helpers::CLIENT_ID);
    assert_eq!(query["post_logout_redirect_uri"], "http://localhost:3000/");
    assert_eq!(query["id_token_hint"], token);
    let removal = response
        .headers()
        .get("Set-Cookie")
        .find(|c| c.starts_with("bff_session="))
        .map(str::to_string);
    assert!(removal.is_some_and(|c| c.contains("Max-Age=0")));
    assert_eq!(app.call_api().await.status().code, 401);
}
#[rocket::async_test]
async fn the_id_token_for_logout_is_encrypted_and_only_sent_to_logout() {
    let app = app().await;
    let start = app.start_login("/").await;
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    let response = app
        .callback(&[("id_token", &token), ("state", &start.state)])
        .await;
    let hint = response
        .headers()
        .get("Set-Cookie")
        .find(|c| c.starts_with("bff_logout_hint="))
        .map(str::to_string)
        .expect("a logout hint cookie");
    assert!(hint.contains("Path=/logout"), "{hint}");
    assert!(hint.contains("HttpOnly"), "{hint}");
    let payload = token.split('.').nth(1).unwrap();
    assert!(
        !hint.contains(payload),
        "the ID token is readable in {hint}"
    );
}
#[rocket::async_test]
async fn a_logout_hint_from_another_session_is_not_sent() {
    let app = app().await;
    let first = app.start_login("/").await;
    let first_token = app.idp.token(&app.idp.claims(&first.nonce));
    app.callback(&[("id_token", &first_token), ("state", &first.state)])
        .await;
    let first_hint = app.client.cookies().get("bff_logout_hint").unwrap().clone();
    app.client.post("/logout").dispatch().await;

    app.login().await;
    // A copy of the first session's hint cookie, presented with the second session (it
    // replaces the tracked one of the same name).
    let response = app
        .client
        .post("/logout")
        .cookie(first_hint)
        .dispatch()
        .await;
    let location = url::Url::parse(response.headers().get_one("Location").unwrap()).unwrap();
    assert!(
        !location
            .query_pairs()
            .any(|(name, _)| name == "id_token_hint"),
        "{location}"
    );
    let removal = response
        .headers()
        .get("Set-Cookie")
        .find(|c| c.starts_with("bff_logout_hint="))
        .map(str::to_string);
    assert!(removal.is_some_and(|c| c.contains("Max-Age=0")));
}
#[rocket::async_test]
async fn logout_without_an_end_session_endpoint_returns_home() {
    let app = helpers::app_with_idp(
        |idp| idp.set_metadata(serde_json::json!({"end_session_endpoint": null})),
        |f| f,
    )
    .await;
    app.login().await;
    let response = app.client.post("/logout").dispatch().await;
    assert_eq!(response.status().code, 303);
    assert_eq!(response.headers().get_one("Location"), Some("/"));
}
#[rocket::async_test]
async fn a_session_cookie_replayed_after_logout_is_refused() {
    let app = app().await;
    app.login().await;
    let cookie = app.session_cookie().unwrap();
    app.client.post("/logout").dispatch().await;
    assert_eq!(api_with_cookie(&app, &cookie).await, 401);
}
#[rocket::async_test]
async fn cross_site_logout_is_refused() {
    let app = app().await;
    app.login().await;
    let response = app
        .client
        .post("/logout")
        .header(Header::new("Sec-Fetch-Site", "cross-site"))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 403);
    let response = app
        .client
        .post("/logout")
        .header(Header::new("Origin", "https://evil.example"))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 403);
    let response = app
        .client
        .post("/logout")
        .header(Header::new("Origin", "null"))
        .dispatch()
        .await;
    assert_eq!(
        response.status().code,
        403,
        "an opaque origin without fetch metadata"
    );
    let response = app
        .client
        .post("/logout")
        .header(Header::new("Sec-Fetch-Site", "same-site"))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 403, "a sibling subdomain");
    assert_eq!(app.call_api().await.status().code, 200, "still logged in");
    let response = app
        .client
        .post("/logout")
        .header(Header::new("Origin", "null"))
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 303);
}
