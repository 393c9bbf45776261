//! The FAPI 2.0 client features against the test IdP: `private_key_jwt` client assertions and
//! the published key set, pushed authorization requests, and DPoP-bound tokens (proofs at the
//! token endpoint, at UserInfo and through the gateway, nonces, refresh with the same key).
//!
//! `private_key_jwt`: the client assertions and the published key set; `par`: pushed
//! authorization requests; `dpop`: DPoP proofs and bound tokens, at the token endpoint,
//! UserInfo and the gateway.

use crate::helpers;

mod dpop;
mod par;
mod private_key_jwt;

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use helpers::back_channel::{ParRequest, ResourceRequest, TokenRequest, CLIENT_SECRET};
use helpers::{app_with_idp, TestApp};
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

fn private_key_jwt(file: &'static str) -> impl FnOnce(Figment) -> Figment {
    move |f| {
        f.merge(("oidc.client_auth", "private_key_jwt"))
            .merge(("oidc.client_private_key", key_path(file)))
    }
}
