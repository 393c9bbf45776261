//! The session cookie and the guards: API answers, 401 versus 302, tampering, expiry, logout.

use crate::helpers;

use helpers::{app, app_with, text};
use rocket::http::{Cookie, Header};
use rocket::local::asynchronous::Client;

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

/// `GET /api/hello` as a script, presenting `value` as the session cookie.
async fn api_with_cookie(app: &helpers::TestApp, value: &str) -> u16 {
    api_answer(&app.client, value).await.0
}

/// `GET /api/hello` as a script on `client`, presenting `value` as the session cookie: the
/// status and the JSON body.
async fn api_answer(client: &Client, value: &str) -> (u16, serde_json::Value) {
    let response = client
        .get("/api/hello")
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .cookie(Cookie::new("bff_session", value.to_string()))
        .dispatch()
        .await;
    let status = response.status().code;
    let body = serde_json::from_str(&text(response).await).unwrap_or_default();
    (status, body)
}

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
async fn an_idle_session_expires_inside_the_cookie() {
    let app = app_with(|f| f.merge(("oidc.session_idle_timeout_secs", 1))).await;
    app.login().await;
    let cookie = app.session_cookie().unwrap();
    assert_eq!(app.call_api().await.status().code, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    // Present the old value again even though Max-Age has passed: the content says expired.
    assert_eq!(api_with_cookie(&app, &cookie).await, 401);
}

#[rocket::async_test]
async fn the_absolute_lifetime_ends_even_an_active_session() {
    // Times are whole seconds: a login late in a second may lose almost one of the 3 s.
    let app = app_with(|f| {
        f.merge(("oidc.session_absolute_lifetime_secs", 3))
            .merge(("oidc.session_idle_timeout_secs", 100))
    })
    .await;
    let before_login = std::time::Instant::now();
    app.login().await;
    let cookie = app.session_cookie().unwrap();
    assert_eq!(app.call_api().await.status().code, 200);
    // Used all the time (the idle timeout is far), it ends with its lifetime: polled rather
    // than slept through, and never earlier than the lifetime less the part of a second that
    // whole-second times may drop.
    let ended = loop {
        let status = api_with_cookie(&app, &cookie).await;
        let elapsed = before_login.elapsed();
        if status == 401 {
            break elapsed;
        }
        assert_eq!(status, 200, "a session until it ends ({elapsed:?})");
        assert!(
            elapsed < std::time::Duration::from_millis(4500),
            "still a session {elapsed:?} after the login, with a 3 s lifetime"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        ended >= std::time::Duration::from_secs(2),
        "ended after {ended:?}, before its 3 s lifetime (less under a second)"
    );
    assert_eq!(api_with_cookie(&app, &cookie).await, 401);
}

#[rocket::async_test]
async fn ordinary_requests_do_not_reissue_the_cookie_until_renewal_is_due() {
    let app = app_with(|f| f.merge(("oidc.session_idle_timeout_secs", 40))).await;
    app.login().await;
    let response = app.call_api().await;
    assert!(
        response.headers().get_one("Set-Cookie").is_none(),
        "no Set-Cookie right after login"
    );
    drop(response);
    // 40 s idle → renewed once 2 s (1/20) have passed.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let response = app.call_api().await;
    let renewed = response
        .headers()
        .get_one("Set-Cookie")
        .unwrap_or_default()
        .to_string();
    assert!(renewed.starts_with("bff_session="), "renewed: {renewed}");
}

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
    let first_hint = app.client.cookies().get_private("bff_logout_hint").unwrap();
    app.client.post("/logout").dispatch().await;

    app.login().await;
    // A copy of the first session's hint cookie, presented with the second session (it
    // replaces the tracked one of the same name).
    let response = app
        .client
        .post("/logout")
        .private_cookie(first_hint)
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
