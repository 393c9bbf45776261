//! The FAPI 2.0 client features against the test IdP: `private_key_jwt` client assertions and
//! the published key set, pushed authorization requests, and DPoP-bound tokens (proofs at the
//! token endpoint, at UserInfo and through the gateway, nonces, refresh with the same key).

use crate::helpers;

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use helpers::back_channel::{
    proof_claims, ParRequest, ResourceRequest, TokenRequest, CLIENT_SECRET,
};
use helpers::upstream::Upstream;
use helpers::{app_with_idp, TestApp, CLIENT_ID};
use rocket::figment::Figment;
use rocket::http::{Header, Status};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn key_path(file: &str) -> String {
    format!("{}/tests/support/keys/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// A code-flow app with `extra` settings, the IdP given `metadata` in its discovery (the
/// string `PAR` stands for its PAR endpoint's URL).
async fn code_app(metadata: Value, extra: impl FnOnce(Figment) -> Figment) -> TestApp {
    app_with_idp(
        |idp| {
            let mut doc = json!({ "dpop_signing_alg_values_supported": ["ES256"] });
            for (k, v) in metadata.as_object().unwrap() {
                doc[k] = match v.as_str() {
                    Some("PAR") => json!(format!("{}/par", idp.issuer)),
                    _ => v.clone(),
                };
            }
            idp.set_metadata(doc);
        },
        |f| extra(f.merge(("oidc.response_type", "code"))),
    )
    .await
}

/// Discovery with a PAR endpoint.
fn with_par() -> Value {
    json!({ "pushed_authorization_request_endpoint": "PAR" })
}

fn with_secret(f: Figment) -> Figment {
    f.merge(("oidc.client_secret", CLIENT_SECRET))
}

/// `/login`, then the parameters the IdP got: from the URL, or from the pushed request.
async fn start(app: &TestApp) -> (String, HashMap<String, String>) {
    let response = app.client.get("/login").dispatch().await;
    assert_eq!(response.status().code, 302, "login redirects to the IdP");
    let location = response.headers().get_one("Location").unwrap().to_string();
    let in_url: HashMap<String, String> = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let params = match app.idp.back.par_requests.lock().unwrap().last() {
        Some(pushed) if in_url.contains_key("request_uri") => {
            pushed.fields.iter().cloned().collect()
        }
        _ => in_url,
    };
    (location, params)
}

/// A whole code-flow login; the callback's status.
async fn log_in(app: &TestApp) -> Status {
    log_in_answer(app).await.0
}

/// A login through the code flow: the callback's status and page.
async fn log_in_answer(app: &TestApp) -> (Status, String) {
    let (_, params) = start(app).await;
    let code = app
        .idp
        .back
        .grant_code(&params["nonce"], &params["code_challenge"]);
    let response = app
        .callback(&[("code", &code), ("state", &params["state"])])
        .await;
    let status = response.status();
    (status, helpers::text(response).await)
}

/// The last request the test IdP's token endpoint received.
fn last_token_request(app: &TestApp) -> TokenRequest {
    app.idp
        .back
        .requests
        .lock()
        .unwrap()
        .last()
        .cloned()
        .unwrap()
}

/// The last access token the test IdP issued.
fn last_access_token(app: &TestApp) -> String {
    app.idp
        .back
        .access_tokens
        .lock()
        .unwrap()
        .last()
        .cloned()
        .unwrap()
}

/// The last request the test IdP's PAR endpoint received.
fn last_pushed_request(app: &TestApp) -> ParRequest {
    app.idp
        .back
        .par_requests
        .lock()
        .unwrap()
        .last()
        .cloned()
        .unwrap()
}

/// The last request the test IdP's UserInfo received.
fn last_userinfo_request(app: &TestApp) -> ResourceRequest {
    app.idp
        .back
        .userinfo_requests
        .lock()
        .unwrap()
        .last()
        .cloned()
        .unwrap()
}

fn decode(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Header and claims of a compact JWS whose ES256 signature verifies with the header's `jwk`.
fn verified_proof(proof: &str) -> (Value, Value) {
    let parts: Vec<&str> = proof.split('.').collect();
    assert_eq!(parts.len(), 3, "compact JWS");
    let (header, claims) = (decode(parts[0]), decode(parts[1]));
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(header["alg"], "ES256");
    let jwk = &header["jwk"];
    assert_eq!(jwk["kty"], "EC");
    assert!(jwk.get("d").is_none(), "no private key in the proof");
    let mut point = vec![4u8];
    for c in ["x", "y"] {
        point.extend(URL_SAFE_NO_PAD.decode(jwk[c].as_str().unwrap()).unwrap());
    }
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("the proof's signature verifies with its jwk");
    (header, claims)
}

fn sha256_b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes()))
}

/// `GET uri` as the page's script sends it.
async fn fetch(app: &TestApp, uri: &str) -> (Status, Value) {
    let response = app
        .client
        .get(uri.to_string())
        .header(Header::new("Sec-Fetch-Mode", "cors"))
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .header(Header::new("Accept", "application/json"))
        .dispatch()
        .await;
    let status = response.status();
    let body = response.into_json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

// ---- private_key_jwt -------------------------------------------------------------------

fn private_key_jwt(file: &'static str) -> impl FnOnce(Figment) -> Figment {
    move |f| {
        f.merge(("oidc.client_auth", "private_key_jwt"))
            .merge(("oidc.client_private_key", key_path(file)))
    }
}

#[tokio::test]
async fn the_token_endpoint_gets_a_signed_client_assertion_and_no_secret() {
    let app = code_app(
        json!({"token_endpoint_auth_signing_alg_values_supported": ["PS256", "ES256"]}),
        private_key_jwt("rsa-b.pem"),
    )
    .await;
    assert_eq!(log_in(&app).await, Status::SeeOther);
    let request = last_token_request(&app);
    assert_eq!(request.authorization, None, "no Basic credentials");
    assert_eq!(request.client_secret_in_body, None);
    assert_eq!(
        request.client_assertion_type.as_deref(),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    let assertion = request.client_assertion.unwrap();
    let parts: Vec<&str> = assertion.split('.').collect();
    let (header, claims) = (decode(parts[0]), decode(parts[1]));
    assert_eq!(
        header["alg"], "PS256",
        "the key's best algorithm the IdP lists"
    );
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(claims["sub"], CLIENT_ID);
    assert_eq!(claims["aud"], app.idp.issuer.as_str());
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(
        exp > iat && exp - iat <= 60,
        "a short-lived assertion: {claims}"
    );

    // The signature verifies with the key the app publishes, found by the header's kid.
    let jwks: Value = app
        .client
        .get("/.well-known/jwks.json")
        .dispatch()
        .await
        .into_json()
        .await
        .unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the assertion's kid is published");
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    ring::rsa::PublicKeyComponents { n: &n, e: &e }
        .verify(
            &ring::signature::RSA_PSS_2048_8192_SHA256,
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &signature,
        )
        .expect("the assertion verifies with the published key");
}

#[tokio::test]
async fn every_client_assertion_has_its_own_jti() {
    let app = code_app(json!({}), private_key_jwt("ec-a.pem")).await;
    assert_eq!(log_in(&app).await, Status::SeeOther);
    assert_eq!(log_in(&app).await, Status::SeeOther);
    let requests = app.idp.back.requests.lock().unwrap().clone();
    let jtis: Vec<Value> = requests
        .iter()
        .map(|r| proof_claims(r.client_assertion.as_deref().unwrap())["jti"].clone())
        .collect();
    assert_eq!(jtis.len(), 2);
    assert_ne!(jtis[0], jtis[1]);
    let header = decode(
        requests[0]
            .client_assertion
            .as_deref()
            .unwrap()
            .split('.')
            .next()
            .unwrap(),
    );
    assert_eq!(header["alg"], "ES256", "a P-256 key signs ES256");
}

#[tokio::test]
async fn the_published_key_set_holds_the_public_key_only_and_is_empty_without_one() {
    let app = code_app(json!({}), private_key_jwt("rsa-b.pem")).await;
    let response = app.client.get("/.well-known/jwks.json").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    let jwks: Value = response.into_json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert!(key["kid"].as_str().is_some_and(|kid| kid.len() == 43));
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(key.get(private).is_none(), "{private} published");
    }
    let plain = code_app(json!({}), with_secret).await;
    let jwks: Value = plain
        .client
        .get("/.well-known/jwks.json")
        .dispatch()
        .await
        .into_json()
        .await
        .unwrap();
    assert_eq!(jwks, json!({"keys": []}));
}

// ---- PAR -------------------------------------------------------------------------------

#[tokio::test]
async fn a_pushed_request_carries_every_parameter_and_the_browser_only_a_reference() {
    let app = code_app(with_par(), with_secret).await;
    let (location, params) = start(&app).await;
    let url = url::Url::parse(&location).unwrap();
    let in_url: HashMap<String, String> = url.query_pairs().into_owned().collect();
    assert_eq!(
        in_url.len(),
        2,
        "only client_id and request_uri: {location}"
    );
    assert_eq!(in_url["client_id"], CLIENT_ID);
    assert!(in_url["request_uri"].starts_with("urn:ietf:params:oauth:request_uri:"));
    let pushed = last_pushed_request(&app);
    assert!(
        pushed
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic ")),
        "authenticated"
    );
    for name in [
        "response_type",
        "response_mode",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    ] {
        assert!(params.contains_key(name), "{name} pushed");
    }
    assert_eq!(params["response_mode"], "form_post");
    let client_ids = pushed
        .fields
        .iter()
        .filter(|(n, _)| n == "client_id")
        .count();
    assert_eq!(
        client_ids, 1,
        "client_id pushed once, with Basic authentication too"
    );
    let code = app
        .idp
        .back
        .grant_code(&params["nonce"], &params["code_challenge"]);
    let status = app
        .callback(&[("code", &code), ("state", &params["state"])])
        .await
        .status();
    assert_eq!(status, Status::SeeOther, "the pushed login completes");
}

#[tokio::test]
async fn a_pushed_request_is_authenticated_by_an_assertion_with_one_client_id() {
    let app = code_app(with_par(), private_key_jwt("ec-a.pem")).await;
    assert_eq!(log_in(&app).await, Status::SeeOther);
    let pushed = last_pushed_request(&app);
    let field = |name: &str| pushed.fields.iter().filter(|(n, _)| n == name).count();
    assert_eq!(field("client_id"), 1);
    assert_eq!(field("client_assertion"), 1);
    assert_eq!(pushed.authorization, None);
}

#[tokio::test]
async fn par_never_keeps_the_request_in_the_url_unless_the_idp_requires_pushing() {
    let app = code_app(with_par(), |f| with_secret(f).merge(("oidc.par", "never"))).await;
    let (location, _) = start(&app).await;
    assert!(location.contains("state="), "{location}");
    assert!(app.idp.back.par_requests.lock().unwrap().is_empty());

    let required = code_app(
        json!({
            "pushed_authorization_request_endpoint": "PAR",
            "require_pushed_authorization_requests": true,
        }),
        |f| with_secret(f).merge(("oidc.par", "never")),
    )
    .await;
    let (location, _) = start(&required).await;
    assert!(location.contains("request_uri="), "{location}");
}

#[tokio::test]
async fn par_auto_does_not_push_for_a_client_without_secret_or_key() {
    // An implicit-flow app with no credentials: an IdP would refuse its unauthenticated push.
    let app = app_with_idp(
        |idp| {
            idp.set_metadata(json!({
                "pushed_authorization_request_endpoint": format!("{}/par", idp.issuer)
            }))
        },
        |f| f,
    )
    .await;
    let (location, _) = start(&app).await;
    assert!(location.contains("state="), "{location}");
    assert!(app.idp.back.par_requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn par_always_without_an_endpoint_or_a_refused_push_is_a_502_page() {
    let app = code_app(json!({}), |f| with_secret(f).merge(("oidc.par", "always"))).await;
    let response = app.client.get("/login").dispatch().await;
    assert_eq!(response.status(), Status::BadGateway);
    assert!(response.headers().get_one("Location").is_none());

    let refused = code_app(with_par(), with_secret).await;
    *refused.idp.back.error.lock().unwrap() = Some(json!({"error": "invalid_request"}));
    let response = refused.client.get("/login").dispatch().await;
    assert_eq!(response.status(), Status::BadGateway);
    assert!(
        response
            .headers()
            .get("Set-Cookie")
            .all(|c| !c.contains("bff_login_")),
        "no login attempt cookie for a refused push"
    );
}

// ---- DPoP ------------------------------------------------------------------------------

fn dpop(f: Figment) -> Figment {
    with_secret(f).merge(("oidc.dpop", true))
}

#[tokio::test]
async fn the_code_exchange_carries_a_dpop_proof_for_the_token_endpoint() {
    let app = code_app(json!({}), dpop).await;
    assert_eq!(log_in(&app).await, Status::SeeOther);
    let request = last_token_request(&app);
    let (_, claims) = verified_proof(request.dpop.as_deref().expect("a DPoP proof"));
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], format!("{}/token", app.idp.issuer));
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 32));
    assert!((claims["iat"].as_i64().unwrap() - helpers::idp::now()).abs() <= 5);
    assert!(claims.get("ath").is_none(), "no access token yet");
}

#[tokio::test]
async fn a_bearer_token_type_is_refused_when_dpop_was_asked_for() {
    let app = code_app(json!({}), dpop).await;
    *app.idp.back.token_type.lock().unwrap() = Some("Bearer".into());
    let (status, page) = log_in_answer(&app).await;
    assert_ne!(status, Status::SeeOther);
    assert_eq!(status, Status::Unauthorized, "{page}");
    assert!(
        page.contains("token type `Bearer` where `DPoP` was expected"),
        "the page says why: {page}"
    );
    assert!(
        app.session_cookie().is_none(),
        "no session with unbound tokens"
    );
}

#[tokio::test]
async fn without_dpop_no_proof_is_sent_and_a_dpop_token_type_is_refused() {
    let app = code_app(json!({}), with_secret).await;
    assert_eq!(log_in(&app).await, Status::SeeOther);
    let request = last_token_request(&app);
    assert_eq!(request.dpop, None);
    // A bound token is of no use to a client without the key: refused.
    *app.idp.back.token_type.lock().unwrap() = Some("DPoP".into());
    let (status, page) = log_in_answer(&app).await;
    assert_ne!(status, Status::SeeOther);
    assert_eq!(status, Status::Unauthorized, "{page}");
    assert!(
        page.contains("token type `DPoP` where `Bearer` was expected"),
        "the page says why: {page}"
    );
    assert!(
        app.session_cookie().is_some(),
        "the first login's session is kept"
    );
}

#[tokio::test]
async fn userinfo_gets_the_dpop_scheme_and_a_proof_with_ath_by_the_same_key() {
    let app = code_app(json!({}), dpop).await;
    assert_eq!(log_in(&app).await, Status::SeeOther);
    let exchange = last_token_request(&app);
    let (exchange_header, _) = verified_proof(exchange.dpop.as_deref().unwrap());
    app.idp.back.userinfo_requests.lock().unwrap().clear();
    let (status, _) = fetch(&app, "/api/upstream").await;
    assert_eq!(status, Status::Ok);
    let seen = last_userinfo_request(&app);
    let token = last_access_token(&app);
    assert_eq!(seen.authorization, Some(format!("DPoP {token}")));
    let (header, claims) = verified_proof(seen.dpop.as_deref().expect("a proof"));
    assert_eq!(claims["htm"], "GET");
    assert_eq!(claims["htu"], format!("{}/userinfo", app.idp.issuer));
    assert_eq!(claims["ath"], sha256_b64(&token));
    assert_eq!(header["jwk"], exchange_header["jwk"], "the session's key");
}

#[tokio::test]
async fn each_session_has_its_own_dpop_key() {
    let app = code_app(json!({}), dpop).await;
    assert_eq!(log_in(&app).await, Status::SeeOther);
    assert_eq!(log_in(&app).await, Status::SeeOther);
    let requests = app.idp.back.requests.lock().unwrap().clone();
    let keys: Vec<Value> = requests
        .iter()
        .map(|r| verified_proof(r.dpop.as_deref().unwrap()).0["jwk"].clone())
        .collect();
    assert_ne!(keys[0], keys[1]);
}

#[tokio::test]
async fn the_token_endpoints_nonce_is_used_in_one_repeated_request() {
    let app = code_app(json!({}), dpop).await;
    *app.idp.back.dpop_nonce.lock().unwrap() = Some("nonce-1".into());
    assert_eq!(log_in(&app).await, Status::SeeOther);
    let requests = app.idp.back.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "one refusal, one repeat");
    assert!(proof_claims(requests[0].dpop.as_deref().unwrap())
        .get("nonce")
        .is_none());
    assert_eq!(
        proof_claims(requests[1].dpop.as_deref().unwrap())["nonce"],
        "nonce-1"
    );
}

#[tokio::test]
async fn a_resource_servers_nonce_is_used_in_one_repeated_call_and_then_reused() {
    let app = code_app(json!({}), dpop).await;
    assert_eq!(log_in(&app).await, Status::SeeOther);
    *app.idp.back.dpop_nonce.lock().unwrap() = Some("nonce-2".into());
    app.idp.back.userinfo_requests.lock().unwrap().clear();
    assert_eq!(fetch(&app, "/api/upstream").await.0, Status::Ok);
    let seen = app.idp.back.userinfo_requests.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "one refusal, one repeat");
    assert_eq!(
        proof_claims(seen[1].dpop.as_deref().unwrap())["nonce"],
        "nonce-2"
    );
    // The next call starts with the nonce it learned.
    assert_eq!(fetch(&app, "/api/upstream").await.0, Status::Ok);
    let seen = app.idp.back.userinfo_requests.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        proof_claims(seen[2].dpop.as_deref().unwrap())["nonce"],
        "nonce-2"
    );
}

#[tokio::test]
async fn a_refresh_carries_a_proof_by_the_sessions_key() {
    let app = code_app(json!({}), |f| {
        dpop(f).merge(("oidc.refresh_margin_secs", 7200))
    })
    .await;
    assert_eq!(log_in(&app).await, Status::SeeOther);
    assert_eq!(fetch(&app, "/api/upstream").await.0, Status::Ok);
    let requests = app.idp.back.requests.lock().unwrap().clone();
    let refresh = requests
        .iter()
        .find(|r| r.grant_type == "refresh_token")
        .expect("a refresh (the margin makes every token due)");
    let (first, _) = verified_proof(requests[0].dpop.as_deref().unwrap());
    let (header, claims) = verified_proof(refresh.dpop.as_deref().expect("a proof"));
    assert_eq!(header["jwk"], first["jwk"]);
    assert_eq!(claims["htm"], "POST");
    let userinfo = last_userinfo_request(&app);
    let newest = last_access_token(&app);
    assert_eq!(
        userinfo.authorization,
        Some(format!("DPoP {newest}")),
        "the refreshed token"
    );
}

/// A DPoP app with the test upstream as the remote API `orders` (at `/v1`), logged in.
async fn logged_in_behind_the_gateway() -> (Upstream, TestApp) {
    let upstream = Upstream::start().await;
    let url = upstream.url.clone();
    let app = code_app(json!({}), move |f| {
        dpop(f).merge(("oidc.remote_apis.orders.url", format!("{url}/v1")))
    })
    .await;
    assert_eq!(log_in(&app).await, Status::SeeOther);
    (upstream, app)
}

#[tokio::test]
async fn the_gateway_sends_the_dpop_scheme_and_a_proof_for_the_apis_url() {
    let (upstream, app) = logged_in_behind_the_gateway().await;
    let (status, _) = fetch(&app, "/api/orders/items/7?page=2").await;
    assert_eq!(status, Status::Ok);
    let seen = upstream.last();
    let token = last_access_token(&app);
    assert_eq!(
        seen.header("authorization"),
        Some(format!("DPoP {token}").as_str())
    );
    let (_, claims) = verified_proof(seen.header("dpop").expect("a proof"));
    assert_eq!(claims["htm"], "GET");
    assert_eq!(
        claims["htu"],
        format!("{}/v1/items/7", upstream.url),
        "without the query"
    );
    assert_eq!(claims["ath"], sha256_b64(&token));
}

#[tokio::test]
async fn the_gateway_repeats_a_get_once_with_the_apis_nonce() {
    let (upstream, app) = logged_in_behind_the_gateway().await;
    let (status, _) = fetch(&app, "/api/orders/dpop-nonce").await;
    assert_eq!(status, Status::Ok);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2, "one refusal, one repeat");
    assert_eq!(
        proof_claims(seen[1].header("dpop").unwrap())["nonce"],
        "api-nonce"
    );
}
