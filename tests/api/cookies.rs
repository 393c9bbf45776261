//! The cookies of the browser-based-apps BFF profile: over https the session and login cookies
//! carry the `__Host-` prefix (Secure, Path=/, no Domain); `SESSION_SAMESITE=strict` makes the
//! session cookie Strict and hands the browser over through a same-origin page.

use crate::helpers;

use helpers::{app_with, text, TestApp};
use rocket::http::{ContentType, Status};
use rocket::local::asynchronous::LocalResponse;

/// Every `Set-Cookie` of a response, as sent.
fn set_cookies(response: &LocalResponse<'_>) -> Vec<String> {
    response
        .headers()
        .get("Set-Cookie")
        .map(str::to_string)
        .collect()
}

fn cookie_named<'a>(cookies: &'a [String], prefix: &str) -> &'a str {
    cookies
        .iter()
        .find(|c| c.starts_with(prefix) && !c.starts_with(&format!("{prefix}=;")))
        .unwrap_or_else(|| panic!("no {prefix} cookie in {cookies:?}"))
}

async fn https_app() -> TestApp {
    app_with(|f| f.merge(("oidc.base_url", "https://app.example.com"))).await
}

#[rocket::async_test]
async fn over_https_the_login_cookie_is_host_prefixed_secure_at_root_without_domain() {
    let app = https_app().await;
    let response = app.client.get("/login").dispatch().await;
    assert_eq!(response.status(), Status::Found);
    let cookies = set_cookies(&response);
    let login = cookie_named(&cookies, "__Host-bff_login_");
    assert!(
        login.contains("Secure") && login.contains("Path=/") && !login.contains("Domain"),
        "{login}"
    );
}

#[rocket::async_test]
async fn over_https_the_session_cookie_is_host_prefixed_and_works() {
    let app = https_app().await;
    let response = app.login().await;
    assert_eq!(response.status(), Status::SeeOther);
    let cookies = set_cookies(&response);
    let session = cookie_named(&cookies, "__Host-bff_session=");
    for attribute in ["Secure", "HttpOnly", "Path=/", "SameSite=Lax"] {
        assert!(
            session.contains(attribute),
            "{attribute} missing: {session}"
        );
    }
    assert!(!session.contains("Domain"), "{session}");
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("__Secure-bff_logout_hint=")),
        "{cookies:?}"
    );
    assert!(
        !cookies.iter().any(|c| c.starts_with("bff_session=")),
        "{cookies:?}"
    );
    // The prefixed cookie is the session.
    assert_eq!(app.call_api().await.status(), Status::Ok);
}

#[rocket::async_test]
async fn over_https_a_cookie_without_the_prefix_is_no_session() {
    let app = https_app().await;
    app.login().await;
    let sealed = app
        .client
        .cookies()
        .get("__Host-bff_session")
        .expect("the session cookie")
        .value()
        .to_string();
    let keys = crate::helpers::cookie_keys();
    let (session, _) = keys
        .open("__Host-bff_session", &sealed)
        .expect("sealed by the app");
    // A second instance (same key) with an empty jar: only the prefixed name is a session,
    // even with the same session sealed for the unprefixed name, or as Rocket sealed it.
    let other = https_app().await;
    let call = |name: &'static str, value: String| {
        other
            .client
            .get("/api/hello")
            .cookie(rocket::http::Cookie::new(name, value))
            .header(rocket::http::Header::new("Sec-Fetch-Mode", "cors"))
            .dispatch()
    };
    let resealed = keys.seal("bff_session", &session);
    assert_eq!(
        call("bff_session", resealed).await.status(),
        Status::Unauthorized
    );
    // The value sealed for the prefixed name does not open under another name either.
    assert_eq!(
        call("bff_session", sealed.clone()).await.status(),
        Status::Unauthorized
    );
    let earlier_form = other
        .client
        .get("/api/hello")
        .private_cookie(rocket::http::Cookie::new("bff_session", session))
        .header(rocket::http::Header::new("Sec-Fetch-Mode", "cors"))
        .dispatch()
        .await;
    assert_eq!(earlier_form.status(), Status::Unauthorized);
    assert_eq!(
        call("__Host-bff_session", sealed).await.status(),
        Status::Ok
    );
}

#[rocket::async_test]
async fn with_strict_same_site_the_callback_hands_over_through_a_same_origin_page() {
    let app = app_with(|f| f.merge(("oidc.session_samesite", "strict"))).await;
    let start = app.start_login("/profile?tab=1").await;
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    let response = app
        .callback(&[("id_token", &token), ("state", &start.state)])
        .await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.content_type(), Some(ContentType::HTML));
    let cookies = set_cookies(&response);
    let session = cookie_named(&cookies, "bff_session=");
    assert!(session.contains("SameSite=Strict"), "{session}");
    let page = text(response).await;
    assert!(
        // Tera escapes `/` as `&#x2F;`, which the browser reads back as `/`.
        page.contains(r#"<meta http-equiv="refresh" content="0; url=&#x2F;profile?tab=1">"#),
        "{page}"
    );
    assert!(page.contains(r#"href="&#x2F;profile?tab=1""#), "{page}");
}

#[rocket::async_test]
async fn with_the_default_lax_the_callback_redirects() {
    let app = app_with(|f| f).await;
    let response = app.login().await;
    assert_eq!(response.status(), Status::SeeOther);
    let cookies = set_cookies(&response);
    assert!(cookie_named(&cookies, "bff_session=").contains("SameSite=Lax"));
}

#[rocket::async_test]
async fn an_unknown_same_site_value_stops_start_up_naming_the_setting() {
    let idp = helpers::TestIdp::start().await;
    let figment = helpers::figment(&idp.issuer).merge(("oidc.session_samesite", "none"));
    let error = helpers::bff::build_from(figment).expect_err("refused");
    assert!(error.to_string().contains("SESSION_SAMESITE"), "{error}");
}
