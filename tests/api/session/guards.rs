//! The guards: the API answers a session; without one a script gets 401 JSON and a browser
//! navigation a redirect to the login (decided by Fetch Metadata, else `Accept` and
//! `X-Requested-With`); the pages show who is logged in.

use rocket::http::Header;

use crate::helpers;
use crate::helpers::{app, text};

#[rocket::async_test]
async fn the_api_answers_with_the_users_name_and_sub_when_logged_in() {
    let app = app().await;
    app.login().await;
    let response = app.call_api().await;
    assert_eq!(response.status().code, 200);
    assert_eq!(
        response.headers().get_one("Cache-Control"),
        Some("no-store")
    );
    let body: serde_json::Value = response.into_json().await.expect("json");
    assert_eq!(body["sub"], "user-123");
    assert_eq!(body["message"], "Hello, Alice Liddell!");
}
#[rocket::async_test]
async fn a_script_without_a_session_gets_401_json_with_a_login_url() {
    let app = app().await;
    let response = app.call_api().await;
    assert_eq!(response.status().code, 401);
    assert_eq!(
        response.headers().get_one("Cache-Control"),
        Some("no-store")
    );
    let body: serde_json::Value = response.into_json().await.expect("json");
    assert_eq!(body["error"], "login_required");
    assert_eq!(body["login_url"], "/login?returnTo=%2Fapi%2Fhello");
}
async fn api_status(
    app: &helpers::TestApp,
    headers: &[(&'static str, &'static str)],
) -> (u16, Option<String>) {
    let mut request = app.client.get("/api/hello");
    for (name, value) in headers {
        request = request.header(Header::new(*name, *value));
    }
    let response = request.dispatch().await;
    (
        response.status().code,
        response.headers().get_one("Location").map(str::to_string),
    )
}
#[rocket::async_test]
async fn a_browser_navigation_without_a_session_is_redirected_to_login() {
    let app = app().await;
    let (status, location) = api_status(
        &app,
        &[
            ("Sec-Fetch-Mode", "navigate"),
            ("Sec-Fetch-Dest", "document"),
            ("Accept", "text/html,*/*"),
        ],
    )
    .await;
    assert_eq!(status, 302);
    assert_eq!(location.as_deref(), Some("/login?returnTo=%2Fapi%2Fhello"));
}
#[rocket::async_test]
async fn fetch_metadata_decides_before_accept() {
    let app = app().await;
    // A cors fetch is never redirected, even if it asks for HTML.
    let (status, _) =
        api_status(&app, &[("Sec-Fetch-Mode", "cors"), ("Accept", "text/html")]).await;
    assert_eq!(status, 401);
    let (status, _) = api_status(
        &app,
        &[("Sec-Fetch-Mode", "same-origin"), ("Accept", "text/html")],
    )
    .await;
    assert_eq!(status, 401);
}
#[rocket::async_test]
async fn without_fetch_metadata_accept_and_x_requested_with_decide() {
    let app = app().await;
    assert_eq!(
        api_status(&app, &[("Accept", "*/*")]).await.0,
        401,
        "plain fetch"
    );
    assert_eq!(
        api_status(&app, &[("Accept", "text/html")]).await.0,
        302,
        "old browser navigation"
    );
    assert_eq!(
        api_status(
            &app,
            &[
                ("Accept", "text/html"),
                ("X-Requested-With", "XMLHttpRequest")
            ]
        )
        .await
        .0,
        401,
        "XHR"
    );
    assert_eq!(api_status(&app, &[]).await.0, 401, "no hints at all");
}
#[rocket::async_test]
async fn a_page_without_a_session_redirects_to_login_and_back() {
    let app = app().await;
    let response = app.client.get("/profile").dispatch().await;
    assert_eq!(response.status().code, 302);
    assert_eq!(
        response.headers().get_one("Location"),
        Some("/login?returnTo=%2Fprofile")
    );
}
#[rocket::async_test]
async fn the_profile_shows_the_claims_with_readable_times() {
    let app = app().await;
    app.login().await;
    let response = app.client.get("/profile").dispatch().await;
    assert_eq!(response.status().code, 200);
    assert_eq!(
        response.headers().get_one("Cache-Control"),
        Some("no-store")
    );
    let body = text(response).await;
    let year = time::OffsetDateTime::now_utc().year().to_string();
    for expected in ["Alice Liddell", "alice@example.com", "user-123", &year] {
        assert!(body.contains(expected), "{expected} in profile");
    }
    // Every claim of the ID token is shown, the issuer and audience included.
    for claim in ["iss", "aud", "sub", "email"] {
        let claim = format!("<td class=\"claim-name\">{claim}</td>");
        assert!(body.contains(&claim), "{claim} in profile: {body}");
    }
    assert!(
        !body.contains("nonce"),
        "validation-only claims are not kept"
    );
}
#[rocket::async_test]
async fn the_start_page_shows_who_is_logged_in() {
    let app = app().await;
    assert!(text(app.client.get("/").dispatch().await)
        .await
        .contains("You are logged out"));
    app.login().await;
    assert!(text(app.client.get("/").dispatch().await)
        .await
        .contains("Logged in as Alice Liddell"));
}
#[rocket::async_test]
async fn the_start_page_escapes_the_users_name_on_every_request() {
    let app = app().await;
    let start = app.start_login("/").await;
    let mut claims = app.idp.claims(&start.nonce);
    claims["name"] = serde_json::json!("<script>alert(1)</script> & Co");
    let token = app.idp.token(&claims);
    let response = app
        .callback(&[("id_token", &token), ("state", &start.state)])
        .await;
    assert_eq!(response.status().code, 303);
    // The first request renders and cuts the page; the second puts the name into the cut.
    for request in ["first", "second"] {
        let page = text(app.client.get("/").dispatch().await).await;
        let escaped = "&lt;script&gt;alert(1)&lt;&#x2F;script&gt; &amp; Co";
        assert!(!page.contains("<script>alert"), "{request}: {page}");
        assert!(
            page.contains(&format!("Logged in as {escaped}</h1>")),
            "{request}: {page}"
        );
        assert!(
            page.contains(&format!(r#"<span id="user-name">{escaped}</span>"#)),
            "{request}: {page}"
        );
    }
}
