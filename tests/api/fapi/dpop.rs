//! DPoP: proofs at the token endpoint, at UserInfo and through the gateway, one key per
//! session kept across a refresh, the servers' nonces, and the token type checked.

use rocket::figment::Figment;
use rocket::http::Status;
use serde_json::{json, Value};

use super::{
    code_app, fetch, last_access_token, last_token_request, last_userinfo_request, log_in,
    log_in_answer, sha256_b64, verified_proof, with_secret,
};
use crate::helpers;
use crate::helpers::back_channel::proof_claims;
use crate::helpers::upstream::Upstream;
use crate::helpers::TestApp;

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

#[tokio::test]
async fn an_apis_own_token_is_bound_to_the_sessions_key_and_obtained_with_a_proof() {
    let upstream = Upstream::start().await;
    let url = upstream.url.clone();
    let app = code_app(json!({}), move |f| {
        dpop(f)
            .merge(("oidc.remote_apis.orders.url", format!("{url}/v1")))
            .merge(("oidc.remote_apis.orders.resource", "https://orders.example"))
    })
    .await;
    assert_eq!(log_in(&app).await, Status::SeeOther);
    let (login_proof, _) = verified_proof(last_token_request(&app).dpop.as_deref().unwrap());
    let session_token = last_access_token(&app);
    let (status, _) = fetch(&app, "/api/orders/items").await;
    assert_eq!(status, Status::Ok);
    let request = last_token_request(&app);
    assert_eq!(request.grant_type, "refresh_token");
    assert_eq!(request.resource.as_deref(), Some("https://orders.example"));
    let (refresh_proof, _) = verified_proof(request.dpop.as_deref().expect("a proof"));
    assert_eq!(
        refresh_proof["jwk"], login_proof["jwk"],
        "the session's key"
    );
    let token = last_access_token(&app);
    assert_ne!(token, session_token, "the API's own token");
    let seen = upstream.last();
    assert_eq!(
        seen.header("authorization"),
        Some(format!("DPoP {token}").as_str())
    );
    let (proof, claims) = verified_proof(seen.header("dpop").expect("a proof"));
    assert_eq!(proof["jwk"], login_proof["jwk"]);
    assert_eq!(claims["ath"], sha256_b64(&token));
}
