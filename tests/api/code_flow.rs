//! The authorization code flow (`code` and `code id_token`): PKCE, client authentication,
//! `at_hash`/`c_hash`, server-side tokens, refresh, the upstream API and revocation.

use crate::helpers;

use std::sync::atomic::Ordering;
use std::time::Duration;

use helpers::back_channel::{half_hash, CLIENT_SECRET};
use helpers::{app_with, app_with_idp, text, TestApp};
use rocket::futures::future::join_all;
use rocket::local::asynchronous::LocalResponse;
use rocket::serde::json::{json, Value};

async fn code_app(response_type: &'static str) -> TestApp {
    app_with(move |f| {
        f.merge(("oidc.response_type", response_type))
            .merge(("oidc.client_secret", CLIENT_SECRET))
    })
    .await
}

/// Signs in at the test IdP for the attempt `/login` started; returns the callback response.
async fn login_with_code(app: &TestApp) -> LocalResponse<'_> {
    let start = app.start_login("/").await;
    assert_eq!(start.params["response_type"], "code");
    assert_eq!(start.params["code_challenge_method"], "S256");
    let code = app
        .idp
        .back
        .grant_code(&start.nonce, &start.params["code_challenge"]);
    app.callback(&[("code", &code), ("state", &start.state)])
        .await
}

/// Every header and body the browser got during a flow, to check no token leaked into them.
fn assert_no_token_in(seen: &str, app: &TestApp) {
    for token in app.idp.back.access_tokens.lock().unwrap().iter() {
        assert!(
            !seen.contains(token.as_str()),
            "access token leaked to the browser"
        );
    }
    for token in app.idp.back.refresh_tokens.lock().unwrap().iter() {
        assert!(
            !seen.contains(token.as_str()),
            "refresh token leaked to the browser"
        );
    }
}

async fn everything(response: LocalResponse<'_>) -> String {
    let headers: Vec<String> = response
        .headers()
        .iter()
        .map(|h| format!("{}: {}", h.name, h.value))
        .collect();
    format!("{}\n{}", headers.join("\n"), text(response).await)
}

#[rocket::async_test]
async fn a_code_login_redeems_the_code_with_the_pkce_verifier_and_basic_auth() {
    let app = code_app("code").await;
    let response = login_with_code(&app).await;
    assert_eq!(response.status().code, 303);
    let seen = everything(response).await;
    let request = app.idp.back.requests.lock().unwrap()[0].clone();
    assert_eq!(request.grant_type, "authorization_code");
    assert_eq!(
        request.redirect_uri.as_deref(),
        Some("http://localhost:3000/callback")
    );
    assert!(request
        .code_verifier
        .as_deref()
        .is_some_and(|v| v.len() >= 43));
    assert!(request
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Basic ")));
    assert!(request.client_secret_in_body.is_none());
    assert_no_token_in(&seen, &app);
    // Claims missing from the ID token come from UserInfo.
    let api: Value = app.call_api().await.into_json().await.unwrap();
    assert_eq!(api["message"], "Hello, Alice Liddell!");
}

#[rocket::async_test]
async fn a_code_login_whose_id_token_has_the_claims_the_app_uses_does_not_ask_userinfo() {
    let app = code_app("code").await;
    // The default scopes and session claims: name, email, picture.
    *app.idp.back.id_token_overrides.lock().unwrap() = json!({
        "name": "Alice from the ID token", "email": "alice@example.com",
        "picture": "https://example.com/alice.png",
    });
    assert_eq!(login_with_code(&app).await.status().code, 303);
    assert_eq!(app.idp.back.userinfo_requests.lock().unwrap().len(), 0);
    let api: Value = app.call_api().await.into_json().await.unwrap();
    assert_eq!(api["message"], "Hello, Alice from the ID token!");
}

#[rocket::async_test]
async fn a_code_login_asks_userinfo_when_the_id_token_lacks_a_claim_or_every_login_must() {
    // Without `picture`, the ID token lacks a claim GET /session shows.
    let app = code_app("code").await;
    *app.idp.back.id_token_overrides.lock().unwrap() =
        json!({"name": "Alice from the ID token", "email": "alice@example.com"});
    assert_eq!(login_with_code(&app).await.status().code, 303);
    assert_eq!(app.idp.back.userinfo_requests.lock().unwrap().len(), 1);
    // USERINFO_AT_EVERY_LOGIN: even an ID token with every claim.
    let app = app_with(|f| {
        f.merge(("oidc.response_type", "code"))
            .merge(("oidc.client_secret", CLIENT_SECRET))
            .merge(("oidc.userinfo_at_every_login", true))
    })
    .await;
    *app.idp.back.id_token_overrides.lock().unwrap() = json!({
        "name": "Alice from the ID token", "email": "alice@example.com",
        "picture": "https://example.com/alice.png",
    });
    assert_eq!(login_with_code(&app).await.status().code, 303);
    assert_eq!(app.idp.back.userinfo_requests.lock().unwrap().len(), 1);
}

#[rocket::async_test]
async fn tokens_never_reach_the_browser_in_pages_api_answers_or_cookies() {
    let app = code_app("code").await;
    let mut seen = everything(login_with_code(&app).await).await;
    for path in ["/", "/profile", "/api/hello", "/api/upstream"] {
        seen += &everything(app.client.get(path).dispatch().await).await;
    }
    for cookie in app.client.cookies().iter() {
        seen += cookie.value();
    }
    assert_no_token_in(&seen, &app);
    assert!(
        seen.contains("userinfo"),
        "the profile shows UserInfo claims"
    );
}

#[rocket::async_test]
async fn client_secret_post_is_used_when_the_idp_supports_only_that() {
    let app = app_with_idp(
        |idp| {
            idp.set_metadata(
                json!({"token_endpoint_auth_methods_supported": ["client_secret_post"]}),
            )
        },
        |f| {
            f.merge(("oidc.response_type", "code"))
                .merge(("oidc.client_secret", CLIENT_SECRET))
        },
    )
    .await;
    assert_eq!(login_with_code(&app).await.status().code, 303);
    let request = app.idp.back.requests.lock().unwrap()[0].clone();
    assert!(request.authorization.is_none());
    assert_eq!(
        request.client_secret_in_body.as_deref(),
        Some(CLIENT_SECRET)
    );
}

#[rocket::async_test]
async fn a_wrong_at_hash_is_refused() {
    let app = code_app("code").await;
    *app.idp.back.id_token_overrides.lock().unwrap() =
        json!({"at_hash": half_hash("another token")});
    let response = login_with_code(&app).await;
    assert_eq!(response.status().code, 401);
    assert!(response.cookies().get("bff_session").is_none());
    assert!(text(response).await.contains("at_hash"));
}

#[rocket::async_test]
async fn the_token_endpoints_id_token_must_carry_our_nonce() {
    let app = code_app("code").await;
    *app.idp.back.id_token_overrides.lock().unwrap() = json!({"nonce": "someone-else"});
    assert_eq!(login_with_code(&app).await.status().code, 401);
}

#[rocket::async_test]
async fn a_token_endpoint_error_is_a_clear_failed_login() {
    let app = code_app("code").await;
    *app.idp.back.error.lock().unwrap() =
        Some(json!({"error": "invalid_grant", "error_description": "code expired"}));
    let response = login_with_code(&app).await;
    assert_eq!(response.status().code, 401);
    let body = text(response).await;
    assert!(body.contains("invalid_grant"), "{body}");
}

#[rocket::async_test]
async fn a_code_without_its_pkce_verifier_is_not_redeemed() {
    let app = code_app("code").await;
    let start = app.start_login("/").await;
    let code = app
        .idp
        .back
        .grant_code(&start.nonce, "a-challenge-for-another-verifier");
    let response = app
        .callback(&[("code", &code), ("state", &start.state)])
        .await;
    assert_eq!(response.status().code, 401);
    // What the app did: it sent the verifier of ITS attempt (whose S256 is the challenge it
    // put in the authorization request), which the IdP refused for a code bound to another
    // challenge; the app shows the IdP's refusal and issues no session.
    let sent = last_code_verifier(&app);
    assert_eq!(
        s256(&sent),
        start.params["code_challenge"],
        "the app sends the verifier of its own challenge"
    );
    assert!(response.cookies().get("bff_session").is_none());
    let body = text(response).await;
    assert!(body.contains("invalid_grant"), "the page says why: {body}");
}

/// The `code_verifier` of the last code exchange the test IdP received.
fn last_code_verifier(app: &TestApp) -> String {
    let requests = app.idp.back.requests.lock().unwrap();
    let exchange = requests
        .iter()
        .rev()
        .find(|r| r.grant_type == "authorization_code")
        .expect("a code exchange");
    exchange.code_verifier.clone().expect("a code_verifier")
}

/// RFC 7636 §4.2: `BASE64URL(SHA256(verifier))`.
fn s256(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier))
}

#[rocket::async_test]
async fn the_app_proves_its_pkce_challenge_with_a_fresh_verifier_per_login() {
    let app = code_app("code").await;
    let mut challenges = Vec::new();
    let mut verifiers = Vec::new();
    for _ in 0..2 {
        let start = app.start_login("/").await;
        let challenge = start.params["code_challenge"].clone();
        assert_eq!(start.params["code_challenge_method"], "S256");
        let code = app.idp.back.grant_code(&start.nonce, &challenge);
        let response = app
            .callback(&[("code", &code), ("state", &start.state)])
            .await;
        assert_eq!(response.status().code, 303, "the login succeeds");
        let verifier = last_code_verifier(&app);
        // RFC 7636 §4.1: 43 to 128 unreserved characters, here with 256 bits of entropy.
        assert!(
            (43..=128).contains(&verifier.len())
                && verifier
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)),
            "verifier {verifier:?}"
        );
        assert_eq!(
            s256(&verifier),
            challenge,
            "S256 of the verifier is the challenge"
        );
        assert!(!verifier.contains(&challenge) && !challenge.contains(&verifier));
        challenges.push(challenge);
        verifiers.push(verifier);
    }
    assert_ne!(challenges[0], challenges[1], "a fresh challenge per login");
    assert_ne!(verifiers[0], verifiers[1], "a fresh verifier per login");
}

async fn hybrid_callback(app: &TestApp, c_hash: Option<String>) -> u16 {
    let start = app.start_login("/").await;
    assert_eq!(start.params["response_type"], "code id_token");
    let code = app
        .idp
        .back
        .grant_code(&start.nonce, &start.params["code_challenge"]);
    let mut claims = app.idp.claims(&start.nonce);
    if let Some(c_hash) = c_hash {
        claims["c_hash"] = json!(c_hash);
    }
    let id_token = app.idp.token(&claims);
    app.callback(&[
        ("code", &code),
        ("id_token", &id_token),
        ("state", &start.state),
    ])
    .await
    .status()
    .code
}

#[rocket::async_test]
async fn hybrid_login_with_a_matching_c_hash_succeeds() {
    let app = code_app("code id_token").await;
    let start = app.start_login("/").await;
    let code = app
        .idp
        .back
        .grant_code(&start.nonce, &start.params["code_challenge"]);
    let mut claims = app.idp.claims(&start.nonce);
    claims["c_hash"] = json!(half_hash(&code));
    let id_token = app.idp.token(&claims);
    let response = app
        .callback(&[
            ("code", &code),
            ("id_token", &id_token),
            ("state", &start.state),
        ])
        .await;
    assert_eq!(response.status().code, 303);
}

#[rocket::async_test]
async fn hybrid_login_with_a_wrong_or_missing_c_hash_is_refused_before_redeeming_the_code() {
    let app = code_app("code id_token").await;
    assert_eq!(
        hybrid_callback(&app, Some(half_hash("another code"))).await,
        401
    );
    assert_eq!(hybrid_callback(&app, None).await, 401);
    assert!(
        app.idp.back.requests.lock().unwrap().is_empty(),
        "no code was redeemed"
    );
}

#[rocket::async_test]
async fn the_upstream_api_is_called_with_the_access_token_and_its_json_relayed() {
    let app = code_app("code").await;
    login_with_code(&app).await;
    let response = app.client.get("/api/upstream").dispatch().await;
    assert_eq!(response.status().code, 200);
    assert_eq!(
        response.headers().get_one("Cache-Control"),
        Some("no-store")
    );
    let body: Value = response.into_json().await.unwrap();
    assert_eq!(body["source"], "userinfo");
    assert_eq!(body["sub"], "user-123");
}

#[rocket::async_test]
async fn an_access_token_within_the_margin_is_refreshed_once() {
    let app = code_app("code").await;
    app.idp.back.access_ttl.store(30, Ordering::SeqCst); // inside the 60 s margin
    login_with_code(&app).await;
    app.idp.back.access_ttl.store(3600, Ordering::SeqCst);
    assert_eq!(
        app.client
            .get("/api/upstream")
            .dispatch()
            .await
            .status()
            .code,
        200
    );
    assert_eq!(
        app.client
            .get("/api/upstream")
            .dispatch()
            .await
            .status()
            .code,
        200
    );
    assert_eq!(app.idp.back.refresh_count.load(Ordering::SeqCst), 1);
}

#[rocket::async_test]
async fn concurrent_requests_of_one_session_share_a_single_refresh() {
    let app = code_app("code").await;
    app.idp.back.access_ttl.store(30, Ordering::SeqCst);
    login_with_code(&app).await;
    app.idp.back.access_ttl.store(3600, Ordering::SeqCst);
    *app.idp.back.refresh_delay.lock().unwrap() = Duration::from_millis(300);
    let statuses = join_all((0..6).map(|_| async {
        app.client
            .get("/api/upstream")
            .dispatch()
            .await
            .status()
            .code
    }))
    .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(app.idp.back.refresh_count.load(Ordering::SeqCst), 1);
}

#[rocket::async_test]
async fn a_failed_refresh_ends_the_session_with_a_401() {
    let app = code_app("code").await;
    app.idp.back.access_ttl.store(30, Ordering::SeqCst);
    login_with_code(&app).await;
    app.idp.back.refresh_fails.store(true, Ordering::SeqCst);
    let response = app.client.get("/api/upstream").dispatch().await;
    assert_eq!(response.status().code, 401);
    let body: Value = response.into_json().await.unwrap();
    assert_eq!(body["error"], "login_required");
    assert_eq!(
        app.call_api().await.status().code,
        401,
        "the session is over"
    );
}

#[rocket::async_test]
async fn logout_revokes_the_refresh_token() {
    let app = code_app("code").await;
    login_with_code(&app).await;
    let refresh_token = app.idp.back.refresh_tokens.lock().unwrap()[0].clone();
    let response = app.client.post("/logout").dispatch().await;
    assert_eq!(response.status().code, 303);
    assert!(app
        .idp
        .back
        .revoked
        .lock()
        .unwrap()
        .contains(&refresh_token));
}

#[rocket::async_test]
async fn an_id_token_session_has_no_access_token_for_the_upstream_api() {
    let app = helpers::app().await;
    app.login().await;
    let response = app.client.get("/api/upstream").dispatch().await;
    assert_eq!(response.status().code, 409);
    assert!(app.idp.back.requests.lock().unwrap().is_empty());
}

#[rocket::async_test]
async fn an_access_token_the_api_rejects_early_is_refreshed_once_and_the_call_retried() {
    let app = code_app("code").await;
    login_with_code(&app).await;
    // The IdP forgets the access token before its expiry (as after a revocation).
    app.idp.back.access_tokens.lock().unwrap().clear();
    let response = app.client.get("/api/upstream").dispatch().await;
    assert_eq!(response.status().code, 200);
    assert_eq!(app.idp.back.refresh_count.load(Ordering::SeqCst), 1);
}

#[rocket::async_test]
async fn the_profile_after_a_refused_refresh_ends_the_session_and_asks_for_login() {
    let app = code_app("code").await;
    app.idp.back.access_ttl.store(30, Ordering::SeqCst);
    login_with_code(&app).await;
    app.idp.back.refresh_fails.store(true, Ordering::SeqCst);
    let response = app.client.get("/profile").dispatch().await;
    assert_eq!(response.status().code, 303);
    assert_eq!(
        response.headers().get_one("Location"),
        Some("/login?returnTo=%2Fprofile")
    );
    assert_eq!(
        app.call_api().await.status().code,
        401,
        "the session is over"
    );
}

#[tokio::test]
async fn an_absurd_expires_in_does_not_break_the_login_or_the_calls() {
    let app = code_app("code").await;
    app.idp.back.access_ttl.store(i64::MAX, Ordering::SeqCst);
    assert_eq!(login_with_code(&app).await.status().code, 303);
    let response = app
        .client
        .get("/api/upstream")
        .header(rocket::http::Header::new("Sec-Fetch-Mode", "cors"))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 200);
}
