//! The login attempt around the ID token: the authorization request, the transient cookie,
//! `state`, replay, IdP errors, return paths and bad callbacks.

use crate::helpers;

use helpers::{app, app_with_idp, text};
use rocket::http::{ContentType, Header};
use rocket::serde::json::json;

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

#[rocket::async_test]
async fn missing_state_is_refused() {
    let app = app().await;
    let start = app.start_login("/").await;
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    let response = app.callback(&[("id_token", &token)]).await;
    assert_eq!(response.status().code, 400);
    assert!(text(response).await.contains("No login was in progress"));
}

#[rocket::async_test]
async fn a_state_without_its_transient_cookie_is_refused() {
    let app = app().await;
    let start = app.start_login("/").await;
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    // A different browser (no cookies) posting the same response.
    let stranger = rocket::local::asynchronous::Client::untracked(
        helpers::bff::build_from(helpers::figment(&app.idp.issuer)).unwrap(),
    )
    .await
    .unwrap();
    let response = stranger
        .post("/callback")
        .header(ContentType::Form)
        .body(format!("id_token={token}&state={}", start.state))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 400);
    assert!(response.cookies().get("bff_session").is_none());
}

#[rocket::async_test]
async fn a_state_that_differs_after_the_cookie_tag_is_refused() {
    let app = app().await;
    let start = app.start_login("/").await;
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    let mut forged = start.state.clone();
    forged.replace_range(20..21, if &forged[20..21] == "A" { "B" } else { "A" });
    let response = app
        .callback(&[("id_token", &token), ("state", &forged)])
        .await;
    assert_eq!(response.status().code, 400);
    assert!(response.cookies().get("bff_session").is_none());
}

#[rocket::async_test]
async fn a_transient_cookie_is_single_use() {
    let app = app().await;
    let start = app.start_login("/").await;
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    let fields = [
        ("id_token", token.as_str()),
        ("state", start.state.as_str()),
    ];
    assert_eq!(app.callback(&fields).await.status().code, 303);
    assert_eq!(app.callback(&fields).await.status().code, 400);
}

#[rocket::async_test]
async fn replaying_a_captured_callback_with_a_copy_of_its_cookie_fails() {
    let app = app().await;
    let start = app.start_login("/").await;
    let copied: Vec<_> = app
        .client
        .cookies()
        .iter()
        .filter(|c| c.name().starts_with("bff_login_"))
        .map(|c| c.clone().into_owned())
        .collect();
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    let body = format!("id_token={token}&state={}", start.state);
    assert_eq!(
        app.callback(&[("id_token", &token), ("state", &start.state)])
            .await
            .status()
            .code,
        303
    );
    let replay = app
        .client
        .post("/callback")
        .header(ContentType::Form)
        .cookies(copied)
        .body(body)
        .dispatch()
        .await;
    assert_eq!(replay.status().code, 400);
    assert!(text(replay).await.contains("already used"));
}

#[rocket::async_test]
async fn a_consumed_state_is_kept_until_its_token_could_no_longer_be_replayed() {
    let idp = helpers::idp::TestIdp::start().await;
    let store = std::sync::Arc::new(helpers::store::ObservedStore::default());
    let figment = helpers::figment(&idp.issuer).merge(("oidc.clock_skew_secs", 30));
    let rocket = helpers::bff::build_with_store(figment, store.clone()).unwrap();
    let client = rocket::local::asynchronous::Client::tracked(rocket)
        .await
        .unwrap();
    let app = helpers::TestApp { client, idp };
    for (lifetime, expected_secs) in [(120, 150), (3600, 600)] {
        let start = app.start_login("/").await;
        let mut claims = app.idp.claims(&start.nonce);
        claims["exp"] = json!(claims["iat"].as_i64().unwrap() + lifetime);
        let token = app.idp.token(&claims);
        let answer = app
            .callback(&[("id_token", &token), ("state", &start.state)])
            .await;
        assert_eq!(answer.status().code, 303);
        let kept = store
            .claims()
            .into_iter()
            .rfind(|(key, _)| key.starts_with("consumed-state:"))
            .unwrap()
            .1
            .as_secs();
        // The token's exp plus the clock skew, or the attempt's 10 minutes if shorter.
        assert!(
            (expected_secs - 2..=expected_secs).contains(&kept),
            "token valid for {lifetime} s: state kept {kept} s, expected about {expected_secs}"
        );
    }
}

#[rocket::async_test]
async fn two_logins_started_in_parallel_both_succeed() {
    let app = app().await;
    let first = app.start_login("/first").await;
    let second = app.start_login("/second").await;
    for (start, path) in [(&second, "/second"), (&first, "/first")] {
        let token = app.idp.token(&app.idp.claims(&start.nonce));
        let response = app
            .callback(&[("id_token", &token), ("state", &start.state)])
            .await;
        assert_eq!(response.status().code, 303);
        assert_eq!(response.headers().get_one("Location"), Some(path));
    }
}

#[rocket::async_test]
async fn abandoned_attempts_are_capped_and_the_oldest_dropped() {
    let app = app().await;
    let oldest = app.start_login("/oldest").await;
    for _ in 0..6 {
        app.start_login("/").await;
    }
    let pending = app
        .client
        .cookies()
        .iter()
        .filter(|c| c.name().starts_with("bff_login_"))
        .count();
    assert!(pending <= 4, "{pending} pending login cookies");
    let token = app.idp.token(&app.idp.claims(&oldest.nonce));
    let response = app
        .callback(&[("id_token", &token), ("state", &oldest.state)])
        .await;
    assert_eq!(
        response.status().code,
        400,
        "the oldest attempt was dropped"
    );
}

#[rocket::async_test]
async fn access_denied_from_the_idp_shows_a_cancelled_page_and_deletes_the_cookie() {
    let app = app().await;
    let start = app.start_login("/").await;
    let response = app
        .callback(&[
            ("error", "access_denied"),
            ("error_description", "<script>alert(1)</script>"),
            ("state", &start.state),
        ])
        .await;
    assert_eq!(response.status().code, 401);
    let deleted = response
        .headers()
        .get("Set-Cookie")
        .any(|c| c.starts_with("bff_login_") && c.contains("Max-Age=0"));
    assert!(deleted);
    let body = text(response).await;
    assert!(body.contains("Login cancelled"));
    assert!(body.contains("/login"), "offers to try again");
    assert!(!body.contains("<script>alert"), "IdP text is escaped");
}

#[rocket::async_test]
async fn other_idp_errors_show_a_failed_page() {
    let app = app().await;
    let start = app.start_login("/").await;
    let response = app
        .callback(&[("error", "server_error"), ("state", &start.state)])
        .await;
    assert_eq!(response.status().code, 400);
    assert!(text(response).await.contains("server_error"));
}

#[rocket::async_test]
async fn a_callback_by_get_with_a_token_in_the_query_is_refused() {
    let app = app().await;
    let start = app.start_login("/").await;
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    let response = app
        .client
        .get(format!("/callback?id_token={token}&state={}", start.state))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 400);
    assert!(response.cookies().get("bff_session").is_none());
    let body = text(response).await;
    assert!(body.contains("form_post"));
    assert!(!body.contains(&token), "the token is never echoed");
}

#[rocket::async_test]
async fn a_json_callback_is_refused_with_a_clear_page() {
    let app = app().await;
    let response = app
        .client
        .post("/callback")
        .header(ContentType::JSON)
        .body(json!({"id_token": "x", "state": "y"}).to_string())
        .dispatch()
        .await;
    assert_eq!(response.status().code, 400);
}

#[rocket::async_test]
async fn an_oversized_callback_body_is_refused_with_413() {
    let app = app().await;
    let start = app.start_login("/").await;
    let huge = "a".repeat(100 * 1024);
    let response = app
        .callback(&[("id_token", &huge), ("state", &start.state)])
        .await;
    assert_eq!(response.status().code, 413);
}

#[rocket::async_test]
async fn an_iss_parameter_naming_another_issuer_is_refused() {
    let app = app().await;
    let start = app.start_login("/").await;
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    let response = app
        .callback(&[
            ("id_token", &token),
            ("state", &start.state),
            ("iss", "https://evil.example"),
        ])
        .await;
    assert_eq!(response.status().code, 400);
}

#[rocket::async_test]
async fn return_to_only_accepts_same_origin_paths() {
    for (attack, expected) in [
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/%2F%2Fevil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/profile", "/profile"),
        ("/café?q=<x>", "/caf%C3%A9?q=%3Cx%3E"),
    ] {
        let app = app().await;
        let start = app.start_login(attack).await;
        let token = app.idp.token(&app.idp.claims(&start.nonce));
        let response = app
            .callback(&[("id_token", &token), ("state", &start.state)])
            .await;
        assert_eq!(response.status().code, 303);
        assert_eq!(
            response.headers().get_one("Location"),
            Some(expected),
            "returnTo={attack}"
        );
    }
}

#[rocket::async_test]
async fn error_pages_carry_a_request_id_and_no_token() {
    let app = app().await;
    let start = app.start_login("/").await;
    let token = app.idp.token(&app.idp.claims("wrong-nonce"));
    let response = app
        .callback(&[("id_token", &token), ("state", &start.state)])
        .await;
    assert_eq!(response.status().code, 401);
    let body = text(response).await;
    assert!(body.contains("id=\"request-id\""));
    assert!(!body.contains(&token));
    assert!(!body.contains(&start.nonce) && !body.contains("wrong-nonce"));
}

#[rocket::async_test]
async fn login_shows_503_while_the_idp_is_down_and_recovers_without_restart() {
    let app = app_with_idp(|idp| idp.set_available(false), |f| f).await;
    let response = app.client.get("/login").dispatch().await;
    assert_eq!(response.status().code, 503);
    assert!(text(response).await.contains("Try again"));
    app.idp.set_available(true);
    // The app paces its discovery retries: wait for the next one to succeed.
    helpers::wait_until(
        std::time::Duration::from_secs(5),
        "/login works again",
        || async { app.client.get("/login").dispatch().await.status().code == 302 },
    )
    .await;
    assert_eq!(app.client.get("/login").dispatch().await.status().code, 302);
}

#[rocket::async_test]
async fn a_discovery_document_for_another_issuer_is_refused_clearly() {
    let app = app_with_idp(
        |idp| idp.set_metadata(json!({ "issuer": "https://impostor.example" })),
        |f| f,
    )
    .await;
    let response = app.client.get("/login").dispatch().await;
    assert_eq!(response.status().code, 502);
    assert!(text(response).await.contains("impostor.example"));
}

#[rocket::async_test]
async fn security_headers_are_on_every_page() {
    let app = app().await;
    for path in ["/", "/login", "/callback", "/nowhere"] {
        let response = app
            .client
            .get(path)
            .header(Header::new("Accept", "text/html"))
            .dispatch()
            .await;
        let h = response.headers();
        let csp = h.get_one("Content-Security-Policy").expect("CSP");
        assert!(
            !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"),
            "{path}: {csp}"
        );
        assert_eq!(h.get_one("X-Content-Type-Options"), Some("nosniff"));
        assert_eq!(h.get_one("Referrer-Policy"), Some("strict-origin"));
        assert_eq!(h.get_one("Cache-Control"), Some("no-store"), "{path}");
    }
}

#[rocket::async_test]
async fn strict_transport_security_is_sent_only_for_an_https_base_url() {
    let local = app().await;
    let response = local.client.get("/").dispatch().await;
    assert!(response
        .headers()
        .get_one("Strict-Transport-Security")
        .is_none());
    let public = app_with_idp(
        |_| {},
        |f| f.merge(("oidc.base_url", "https://app.example")),
    )
    .await;
    let response = public.client.get("/").dispatch().await;
    let hsts = response
        .headers()
        .get_one("Strict-Transport-Security")
        .unwrap_or_default();
    assert!(hsts.starts_with("max-age="), "{hsts}");
}
