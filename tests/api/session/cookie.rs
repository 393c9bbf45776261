//! The session cookie: a tampered, truncated, garbage or foreign one is simply no session
//! (never a server error), and a large claim set still fits.

use rocket::http::Cookie;
use rocket::local::asynchronous::Client;

use super::{api_answer, api_with_cookie};
use crate::helpers;
use crate::helpers::{app, text, CLIENT_ID};

/// What a refused cookie gets: exactly the answer to no session at all (401 and
/// `login_required`, nothing that tells a forger more), while the untouched `value` on the
/// same app is a session (the positive control: the refusal is not for another reason).
async fn assert_no_session_but_the_original_works(
    client: &Client,
    value: &str,
    bad: &str,
    what: &str,
) {
    let (status, body) = api_answer(client, value).await;
    assert_eq!(
        status, 200,
        "control: the untouched cookie is a session ({body})"
    );
    assert_eq!(body["sub"], "user-123", "control: {body}");
    let (status, body) = api_answer(client, bad).await;
    assert_eq!(status, 401, "{what}: {body}");
    assert_eq!(body["error"], "login_required", "{what}: {body}");
}
#[rocket::async_test]
async fn a_tampered_session_cookie_is_no_session() {
    let app = app().await;
    app.login().await;
    let value = app.session_cookie().unwrap();
    let original = value.clone();
    let mut bytes = value.into_bytes();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    assert_eq!(api_with_cookie(&app, &tampered).await, 401);
    assert_no_session_but_the_original_works(&app.client, &original, &tampered, "tampered").await;
}
#[rocket::async_test]
async fn truncated_and_garbage_session_cookies_are_no_session() {
    let app = app().await;
    app.login().await;
    let value = app.session_cookie().unwrap();
    for bad in [
        &value[..value.len() / 2],
        "",
        "%%%",
        "not base64 at all",
        &"A".repeat(5000),
    ] {
        assert_eq!(api_with_cookie(&app, bad).await, 401, "cookie {bad:.20}");
        assert_no_session_but_the_original_works(&app.client, &value, bad, "cookie {bad:.20}")
            .await;
    }
}
#[rocket::async_test]
async fn a_session_cookie_from_an_app_with_another_key_is_no_session() {
    let app = app().await;
    app.login().await;
    let foreign_value = app.session_cookie().unwrap();
    let other = Client::tracked(
        helpers::bff::build_from(
            helpers::figment(&app.idp.issuer).merge(("secret_key", vec![9u8; 64])),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let response = other
        .get("/api/hello")
        .cookie(Cookie::new("bff_session", foreign_value.clone()))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 401);
    // Control: the same cookie is a session on the app that issued it, and the other app
    // has sessions of its own (it refuses the foreign one for its key, not for being broken).
    let (status, body) = api_answer(&app.client, &foreign_value).await;
    assert_eq!(
        status, 200,
        "the issuing app accepts its own cookie: {body}"
    );
    let attempt = other.get("/login").dispatch().await;
    let location = url::Url::parse(attempt.headers().get_one("Location").unwrap()).unwrap();
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    let token = app.idp.token(&app.idp.claims(&query["nonce"]));
    let own = other
        .post("/callback")
        .header(rocket::http::ContentType::Form)
        .body(format!("id_token={token}&state={}", query["state"]))
        .dispatch()
        .await;
    assert_eq!(own.status().code, 303, "the other app logs in on its own");
    let own_value = other
        .cookies()
        .get("bff_session")
        .unwrap()
        .value()
        .to_string();
    assert_no_session_but_the_original_works(&other, &own_value, &foreign_value, "foreign key")
        .await;
}
#[rocket::async_test]
async fn an_oversized_claim_set_still_fits_the_cookie() {
    let app = app().await;
    let start = app.start_login("/").await;
    let mut claims = app.idp.claims(&start.nonce);
    claims["groups"] = serde_json::json!(vec!["a-rather-long-group-name"; 300]);
    let token = app.idp.token(&claims);
    let response = app
        .callback(&[("id_token", &token), ("state", &start.state)])
        .await;
    assert_eq!(response.status().code, 303);
    let cookie = app.session_cookie().unwrap();
    assert!(cookie.len() < 4000, "{} bytes", cookie.len());
    assert!(text(app.client.get("/profile").dispatch().await)
        .await
        .contains("Alice Liddell"));
}

/// A session cookie as the release before the array form wrote it (a JSON object with every
/// claim), encrypted under the test app's key as Rocket's private cookies are.
fn cookie_of_the_previous_release(issuer: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let content = format!(
        r#"{{"id":"previous-release-session","sub":"user-123","iss":"{issuer}","claims":{{"aud":"{CLIENT_ID}","email":"alice@example.com","email_verified":true,"exp":{exp},"iat":{now},"iss":"{issuer}","name":"Alice Liddell","sub":"user-123"}},"created":{now},"seen":{now}}}"#,
        exp = now + 300,
    );
    let key = cookie::Key::from(&[7u8; 64]);
    let mut jar = cookie::CookieJar::new();
    jar.private_mut(&key)
        .add(cookie::Cookie::new("bff_session", content));
    jar.get("bff_session").unwrap().value().to_string()
}
#[rocket::async_test]
async fn a_session_cookie_of_the_previous_release_is_still_a_session() {
    let app = app().await;
    let value = cookie_of_the_previous_release(&app.idp.issuer);
    let (status, body) = api_answer(&app.client, &value).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sub"], "user-123");
    assert_eq!(body["name"], "Alice Liddell");
    assert_eq!(body["message"], "Hello, Alice Liddell!");
}
#[rocket::async_test]
async fn a_session_cookie_of_the_previous_release_is_reissued_sealed_for_its_name() {
    let app = app().await;
    let value = cookie_of_the_previous_release(&app.idp.issuer);
    let response = app
        .client
        .get("/api/hello")
        .header(rocket::http::Header::new("Sec-Fetch-Mode", "cors"))
        .cookie(Cookie::new("bff_session", value))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 200);
    let reissued = response
        .cookies()
        .get("bff_session")
        .expect("re-issued")
        .clone();
    // base64url: nothing for the browser to percent-encode, nor for the app to decode.
    assert!(
        reissued
            .value()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{}",
        reissued.value()
    );
    let keys = helpers::cookie_keys();
    let (session, current) = keys.open("bff_session", reissued.value()).expect("sealed");
    assert!(current);
    assert!(session.contains("previous-release-session"), "{session}");
    // Bound to its name: the same value is no session under another cookie name.
    assert!(keys.open("bff_logout_hint", reissued.value()).is_none());
    let (status, body) = api_answer(&app.client, reissued.value()).await;
    assert_eq!(status, 200, "{body}");
}
#[rocket::async_test]
async fn a_tampered_session_cookie_of_the_previous_release_is_no_session() {
    let app = app().await;
    let value = cookie_of_the_previous_release(&app.idp.issuer);
    let mut bytes = value.clone().into_bytes();
    let middle = bytes.len() / 2;
    bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    assert_no_session_but_the_original_works(&app.client, &value, &tampered, "tampered").await;
}
