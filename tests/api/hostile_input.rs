//! A misbehaving identity provider and hostile clients: key floods, slow and absent IdPs,
//! malformed tokens and cookies. Never a 500, never a panic, always a clear 4xx/5xx page.

use crate::helpers;

use std::time::{Duration, Instant};

use helpers::idp::{b64_json, sign_with, Key};
use helpers::{app, text, TestApp};
use rocket::futures::future::join_all;
use rocket::http::{ContentType, Cookie, Header};
use rocket::local::asynchronous::Client;
use rocket::serde::json::json;

/// A login started by its own "browser": the transient cookie and the values sent to the IdP.
struct Attempt {
    cookies: Vec<Cookie<'static>>,
    state: String,
    nonce: String,
}

async fn start(client: &Client) -> Attempt {
    let response = client.get("/login").dispatch().await;
    let location = url::Url::parse(response.headers().get_one("Location").unwrap()).unwrap();
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    Attempt {
        cookies: response
            .cookies()
            .iter()
            .map(|c| c.clone().into_owned())
            .collect(),
        state: query["state"].clone(),
        nonce: query["nonce"].clone(),
    }
}

async fn post(client: &Client, attempt: &Attempt, token: &str) -> u16 {
    client
        .post("/callback")
        .header(ContentType::Form)
        .cookies(attempt.cookies.clone())
        .body(format!("id_token={token}&state={}", attempt.state))
        .dispatch()
        .await
        .status()
        .code
}

async fn untracked(app: &TestApp) -> Client {
    untracked_with(app, |f| f).await
}

/// A second app instance against the same IdP, whose cookies the test handles by hand.
async fn untracked_with(
    app: &TestApp,
    customize: impl FnOnce(rocket::figment::Figment) -> rocket::figment::Figment,
) -> Client {
    let figment = customize(helpers::figment(&app.idp.issuer));
    Client::untracked(helpers::bff::build_from(figment).unwrap())
        .await
        .unwrap()
}

#[rocket::async_test]
async fn a_flood_of_bogus_kids_causes_about_one_key_fetch_per_second() {
    let app = app().await;
    let client = untracked(&app).await;
    let warm = start(&client).await;
    assert_eq!(
        post(&client, &warm, &app.idp.token(&app.idp.claims(&warm.nonce))).await,
        303
    );
    let before = app.idp.jwks_fetches();
    let mut attempts = Vec::new();
    for _ in 0..12 {
        attempts.push(start(&client).await);
    }
    let began = Instant::now();
    let statuses = join_all(attempts.iter().enumerate().map(|(i, attempt)| {
        let bogus = match Key::rsa("unused", "rsa-c.pem") {
            Key::Rsa { key, .. } => Key::Rsa {
                kid: format!("bogus-{i}"),
                key,
            },
            other => other,
        };
        let token = sign_with(&bogus, &app.idp.claims(&attempt.nonce));
        let client = &client;
        async move { post(client, attempt, &token).await }
    }))
    .await;
    let elapsed = began.elapsed().as_secs_f64();
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    let fetches = app.idp.jwks_fetches() - before;
    assert!(fetches >= 1, "an unknown kid does cause a fetch");
    assert!(
        (fetches as f64) <= elapsed + 1.0,
        "{fetches} JWKS fetches in {elapsed:.1} s for 12 bogus kids"
    );
}

#[rocket::async_test]
async fn existing_sessions_keep_working_while_the_idp_is_down() {
    let app = app().await;
    app.login().await;
    app.idp.set_available(false);
    assert_eq!(app.call_api().await.status().code, 200);
    assert_eq!(
        app.client.get("/profile").dispatch().await.status().code,
        200
    );
}

#[rocket::async_test]
async fn a_hanging_idp_fails_the_callback_within_the_timeout_while_other_requests_are_served() {
    let app = app().await;
    let client = untracked_with(&app, |f| f.merge(("oidc.http_timeout_secs", 1))).await;
    let warm = start(&client).await;
    let warm_token = app.idp.token(&app.idp.claims(&warm.nonce));
    assert_eq!(post(&client, &warm, &warm_token).await, 303);

    let attempt = start(&client).await;
    // A new key makes the app fetch the JWKS, and the IdP now hangs for 5 s.
    let rotated = Key::rsa("key-b", "rsa-b.pem");
    app.idp.publish(vec![rotated.clone()]);
    app.idp.set_delay(Duration::from_secs(5));
    let token = sign_with(&rotated, &app.idp.claims(&attempt.nonce));
    let fetches_before = app.idp.jwks_fetches();
    let began = Instant::now();
    let callback = async {
        let status = post(&client, &attempt, &token).await;
        (status, began.elapsed())
    };
    let other = async {
        // Once the callback's key fetch hangs at the IdP.
        helpers::wait_until(
            Duration::from_secs(3),
            "the callback fetches the keys",
            || async { app.idp.jwks_fetches() > fetches_before },
        )
        .await;
        let status = client.get("/").dispatch().await.status().code;
        (status, began.elapsed())
    };
    let ((callback_status, callback_done), (other_status, other_done)) =
        tokio::join!(callback, other);
    assert_eq!(
        callback_status, 503,
        "the hanging IdP is reported as unavailable"
    );
    assert!(
        callback_done < Duration::from_secs(4),
        "bounded by the 1 s timeout (+ refetch pacing)"
    );
    assert_eq!(other_status, 200);
    assert!(
        other_done < callback_done,
        "other requests were served meanwhile"
    );
}

async fn forged_status(app: &TestApp, token_for: impl FnOnce(&str) -> String) -> (u16, String) {
    let start = app.start_login("/").await;
    let token = token_for(&start.nonce);
    let response = app
        .callback(&[("id_token", &token), ("state", &start.state)])
        .await;
    let status = response.status().code;
    (status, text(response).await)
}

/// A refusal that names why: 401 and the reason on the page.
fn assert_refused_as(status: u16, body: &str, reason: &str, what: &str) {
    assert_eq!(status, 401, "{what}: {body}");
    assert!(
        body.contains(reason),
        "{what}: the page names the reason {reason:?}: {body}"
    );
}

/// The positive control of the hand-made tokens below: the same construction (header and
/// claims encoded here, signed with `sign_bytes`) with nothing broken logs in, so a refusal
/// is for what a test breaks, not for the way the token was made.
async fn assert_hand_made_token_logs_in(app: &TestApp) {
    let key = app.idp.key.clone();
    let (status, body) = forged_status(app, |nonce| {
        let claims = app.idp.claims(nonce).to_string();
        let header = b64_json(&json!({"alg": "RS256", "kid": "key-a", "typ": "JWT"}));
        sign_bytes(&key, &format!("{header}.{}", base64_url(claims.as_bytes())))
    })
    .await;
    assert_eq!(
        status, 303,
        "control: an unbroken hand-made token logs in: {body}"
    );
}

#[rocket::async_test]
async fn deeply_nested_json_in_a_token_is_refused() {
    let app = app().await;
    let key = app.idp.key.clone();
    let (status, body) = forged_status(&app, |nonce| {
        let mut claims = app.idp.claims(nonce).to_string();
        let nested = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
        claims.insert_str(1, &format!("\"deep\":{nested},"));
        let header = b64_json(&json!({"alg": "RS256", "kid": "key-a"}));
        sign_bytes(&key, &format!("{header}.{}", base64_url(claims.as_bytes())))
    })
    .await;
    assert_eq!(status, 401);
    assert_refused_as(status, &body, "malformed", "5000 levels of nesting");
    assert_hand_made_token_logs_in(&app).await;
}

#[rocket::async_test]
async fn a_non_utf8_payload_is_refused() {
    let app = app().await;
    let (status, _) = forged_status(&app, |_| {
        let header = b64_json(&json!({"alg": "RS256", "kid": "key-a"}));
        format!("{header}.{}.c2ln", base64_url(&[0xff, 0xfe, 0x7b, 0x22]))
    })
    .await;
    assert_eq!(status, 401);
    // Signed by the IdP's key, so that only the payload's encoding is wrong.
    let key = app.idp.key.clone();
    let (status, body) = forged_status(&app, |_| {
        let header = b64_json(&json!({"alg": "RS256", "kid": "key-a"}));
        sign_bytes(
            &key,
            &format!("{header}.{}", base64_url(&[0xff, 0xfe, 0x7b, 0x22])),
        )
    })
    .await;
    assert_refused_as(status, &body, "malformed", "a signed non-UTF-8 payload");
    assert_hand_made_token_logs_in(&app).await;
}

#[rocket::async_test]
async fn duplicate_security_claims_are_refused() {
    let app = app().await;
    for duplicated in ["iss", "aud", "nonce", "exp"] {
        let key = app.idp.key.clone();
        let (status, body) = forged_status(&app, |nonce| {
            let claims = app.idp.claims(nonce);
            let mut text = claims.to_string();
            let extra = format!("\"{duplicated}\":{},", claims[duplicated]);
            text.insert_str(1, &extra);
            let header = json!({"alg": "RS256", "kid": "key-a", "typ": "JWT"});
            let input = format!("{}.{}", b64_json(&header), base64_url(text.as_bytes()));
            sign_bytes(&key, &input)
        })
        .await;
        assert_eq!(status, 401, "duplicate {duplicated}: {body}");
        assert_refused_as(
            status,
            &body,
            "malformed",
            &format!("duplicate {duplicated}"),
        );
    }
    assert_hand_made_token_logs_in(&app).await;
}

#[rocket::async_test]
async fn a_huge_header_or_many_segments_is_refused() {
    let app = app().await;
    let (status, _) = forged_status(&app, |_| {
        format!(
            "{}.e30.c2ln",
            b64_json(&json!({"alg": "RS256", "x": "y".repeat(40_000)}))
        )
    })
    .await;
    assert!(status == 401 || status == 413, "{status}");
    let (status, body) = forged_status(&app, |_| "a.".repeat(1000)).await;
    assert_eq!(status, 401);
    assert_refused_as(status, &body, "malformed", "1000 segments");
    assert_hand_made_token_logs_in(&app).await;
}

/// The huge header of the test above, in a token signed by the IdP's key over valid claims,
/// so that nothing but its size is wrong: refused for its size (the header is not read).
#[rocket::async_test]
async fn a_validly_signed_token_with_a_huge_header_is_refused() {
    let app = app().await;
    let key = app.idp.key.clone();
    let (status, body) = forged_status(&app, |nonce| {
        let header = b64_json(&json!({"alg": "RS256", "kid": "key-a", "x": "y".repeat(40_000)}));
        let claims = app.idp.claims(nonce).to_string();
        sign_bytes(&key, &format!("{header}.{}", base64_url(claims.as_bytes())))
    })
    .await;
    assert_refused_as(status, &body, "larger than 8 KiB", "a signed 40 KB header");
    assert_hand_made_token_logs_in(&app).await;
}

#[rocket::async_test]
async fn a_transient_cookie_value_moved_into_the_session_cookie_is_no_session() {
    let app = app().await;
    let start = app.start_login("/").await;
    let login_value = app
        .client
        .cookies()
        .iter()
        .find(|c| c.name().starts_with("bff_login_"))
        .map(|c| c.value().to_string())
        .unwrap();
    let response = app
        .client
        .get("/api/hello")
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .cookie(Cookie::new("bff_session", login_value))
        .dispatch()
        .await;
    assert_eq!(
        response.status().code,
        401,
        "the cookie name is bound into the encryption"
    );
    let body: serde_json::Value = serde_json::from_str(&text(response).await).unwrap();
    assert_eq!(body["error"], "login_required", "no session: {body}");
    // Control: under its own name the value is a valid login attempt (the login completes),
    // and the session cookie that login gives is a session.
    let token = app.idp.token(&app.idp.claims(&start.nonce));
    let callback = app
        .callback(&[("id_token", &token), ("state", &start.state)])
        .await;
    assert_eq!(
        callback.status().code,
        303,
        "the attempt's own cookie logs in"
    );
    let session = app.session_cookie().expect("a session cookie");
    let response = app
        .client
        .get("/api/hello")
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .cookie(Cookie::new("bff_session", session))
        .dispatch()
        .await;
    assert_eq!(
        response.status().code,
        200,
        "the real session cookie is a session"
    );
}

#[rocket::async_test]
async fn a_tampered_transient_cookie_fails_the_login_cleanly() {
    let app = app().await;
    let client = untracked(&app).await;
    let mut attempt = start(&client).await;
    let untouched = attempt.cookies.clone();
    let token = app.idp.token(&app.idp.claims(&attempt.nonce));
    for cookie in &mut attempt.cookies {
        let mut value = cookie.value().to_string();
        value.truncate(value.len() - 4);
        cookie.set_value(value);
    }
    assert_eq!(post(&client, &attempt, &token).await, 400);
    // What it says: no login in progress (a tampered attempt is no attempt).
    let response = client
        .post("/callback")
        .header(ContentType::Form)
        .cookies(attempt.cookies.clone())
        .body(format!("id_token={token}&state={}", attempt.state))
        .dispatch()
        .await;
    assert_eq!(response.status().code, 400);
    let body = text(response).await;
    assert!(body.contains("No login was in progress"), "{body}");
    // Control: the same response with the untouched cookie logs in.
    attempt.cookies = untouched;
    assert_eq!(post(&client, &attempt, &token).await, 303);
}

#[rocket::async_test]
async fn a_non_utf8_form_body_is_a_clear_400() {
    let app = app().await;
    let response = app
        .client
        .post("/callback")
        .header(ContentType::Form)
        .body(vec![
            b's', b't', b'a', b't', b'e', b'=', 0xff, 0xfe, b'&', b'x', b'=', 0xc3,
        ])
        .dispatch()
        .await;
    let status = response.status().code;
    assert!(status == 400, "{status}");
}

#[rocket::async_test]
async fn a_huge_cookie_header_is_no_session_not_an_error() {
    let app = app().await;
    let mut request = app
        .client
        .get("/api/hello")
        .header(Header::new("Sec-Fetch-Mode", "cors"));
    for i in 0..50 {
        request = request.cookie(Cookie::new(format!("bff_login_{i:012}"), "x".repeat(3000)));
    }
    assert_eq!(request.dispatch().await.status().code, 401);
    assert_eq!(app.client.get("/login").dispatch().await.status().code, 302);
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Signs an already-encoded `header.payload` with `key` (RS256).
fn sign_bytes(key: &Key, input: &str) -> String {
    let Key::Rsa { key, .. } = key else {
        panic!("RSA key expected")
    };
    use rsa::signature::{SignatureEncoding, Signer};
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
    format!(
        "{input}.{}",
        base64_url(&signer.sign(input.as_bytes()).to_vec())
    )
}
