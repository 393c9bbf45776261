//! Back-Channel Logout 1.0: discovery says so, and ending an IdP session posts a signed logout
//! token to each client with a `backchannel_logout_uri`, without waiting for it.

use std::time::{Duration, Instant};

use base64::Engine;
use dev_idp::{Client, Lifetimes};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use serde_json::Value;
use sha2::Sha256;

use crate::receiver::Receiver;
use crate::support::*;

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

fn b64(part: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url")
}

/// The token's header, after checking its RS256 signature with the IdP's published key.
async fn verified_header(idp: &Idp, token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS");
    let header: Value = serde_json::from_slice(&b64(parts[0])).unwrap();
    let jwks: Value = idp
        .http
        .get(format!("{}/jwks", idp.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the kid is published");
    let n = rsa::BigUint::from_bytes_be(&b64(jwk["n"].as_str().unwrap()));
    let e = rsa::BigUint::from_bytes_be(&b64(jwk["e"].as_str().unwrap()));
    let key = VerifyingKey::<Sha256>::new(rsa::RsaPublicKey::new(n, e).unwrap());
    let signature = Signature::try_from(b64(parts[2]).as_slice()).unwrap();
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .expect("signed by the IdP's key");
    header
}

/// oidc-bff's client with its back-channel logout URI at `receiver`, and a client with none.
async fn idp_telling(receiver: &Receiver) -> Idp {
    let mut told = Client::for_app(CLIENT_ID, CLIENT_SECRET, APP);
    told.backchannel_logout_uri = Some(receiver.uri.clone());
    let mut silent = Client::for_app("silent", "silent-secret", "http://localhost:5000");
    silent.backchannel_logout_uri = None;
    start_with(vec![told, silent], Lifetimes::default()).await
}

#[rocket::async_test]
async fn discovery_advertises_back_channel_logout_with_sessions() {
    let idp = start().await;
    let doc: Value = idp
        .http
        .get(format!("{}/.well-known/openid-configuration", idp.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .map(|text| serde_json::from_str(&text).unwrap())
        .unwrap();
    assert_eq!(doc["backchannel_logout_supported"], true);
    assert_eq!(doc["backchannel_logout_session_supported"], true);
}

#[rocket::async_test]
async fn id_tokens_carry_the_idp_sessions_sid() {
    let idp = start().await;
    let (_, id_token) = idp.login_as_alice().await;
    assert!(claims(&id_token)["sid"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
}

#[rocket::async_test]
async fn for_app_registers_the_apps_backchannel_logout_uri() {
    let client = Client::for_app("a", "s", "http://localhost:8000/");
    assert_eq!(
        client.backchannel_logout_uri.as_deref(),
        Some("http://localhost:8000/backchannel-logout")
    );
}

#[rocket::async_test]
async fn end_session_posts_a_signed_logout_token_to_each_client_with_a_uri() {
    let mut receiver = Receiver::start().await;
    let idp = idp_telling(&receiver).await;
    let (cookie, id_token) = idp.login_as_alice().await;
    let page = idp
        .get(
            &idp.end_session_url(&[("client_id", CLIENT_ID)]),
            Some(&cookie),
        )
        .await;
    assert_eq!(page.status, 200);
    let token = receiver.next().await;
    let header = verified_header(&idp, &token).await;
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "logout+jwt");
    let logout = claims(&token);
    assert_eq!(logout["iss"], idp.url.as_str());
    assert_eq!(logout["aud"], CLIENT_ID);
    assert_eq!(logout["sub"], ALICE);
    assert_eq!(
        logout["sid"],
        claims(&id_token)["sid"],
        "the ID token's sid"
    );
    assert_eq!(logout["events"][EVENT], serde_json::json!({}));
    assert!(logout["jti"].as_str().is_some_and(|j| j.len() >= 20));
    assert!(logout.get("nonce").is_none());
    let (iat, exp) = (
        logout["iat"].as_i64().unwrap(),
        logout["exp"].as_i64().unwrap(),
    );
    assert!(exp > iat && exp - iat <= 300, "short-lived: {iat}..{exp}");
    assert!(
        receiver.nothing_within(Duration::from_millis(300)).await,
        "one token: the client without a URI is not told"
    );
}

#[rocket::async_test]
async fn each_logout_token_has_its_own_jti() {
    let mut receiver = Receiver::start().await;
    let idp = idp_telling(&receiver).await;
    let mut jtis = Vec::new();
    for _ in 0..2 {
        let (cookie, _) = idp.login_as_alice().await;
        idp.get(&idp.end_session_url(&[]), Some(&cookie)).await;
        jtis.push(claims(&receiver.next().await)["jti"].clone());
    }
    assert_ne!(jtis[0], jtis[1]);
}

#[rocket::async_test]
async fn signing_in_again_ends_the_previous_session_through_the_back_channel() {
    let mut receiver = Receiver::start().await;
    let idp = idp_telling(&receiver).await;
    let (cookie, first) = idp.login_as_alice().await;
    // The browser still holds the first IdP session's cookie when it signs in again.
    let url = idp.authorize_url(&[("prompt", Some("login"))]);
    let sign_in = idp.get(&url, Some(&cookie)).await;
    let mut fields = hidden_fields(&sign_in.body);
    fields.push(("username".into(), "alice".into()));
    fields.push(("password".into(), "alice".into()));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let response = idp
        .http
        .post(format!("{}/authorize", idp.url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Cookie", &cookie)
        .body(body)
        .send()
        .await
        .unwrap();
    let page = page(response).await;
    let second = field(&page.body, "id_token").expect("a new ID token");
    assert_ne!(
        claims(&first)["sid"],
        claims(&second)["sid"],
        "a new IdP session"
    );
    let logout = claims(&receiver.next().await);
    assert_eq!(
        logout["sid"],
        claims(&first)["sid"],
        "the replaced session ends"
    );
}

#[rocket::async_test]
async fn no_session_ended_no_logout_token() {
    let mut receiver = Receiver::start().await;
    let idp = idp_telling(&receiver).await;
    let page = idp.get(&idp.end_session_url(&[]), None).await;
    assert_eq!(page.status, 200);
    assert!(receiver.nothing_within(Duration::from_millis(300)).await);
}

#[rocket::async_test]
async fn a_client_that_is_down_does_not_hold_up_the_logout() {
    let mut down = Client::for_app(CLIENT_ID, CLIENT_SECRET, APP);
    // Nothing listens there; a blackhole address would wait for the delivery timeout.
    down.backchannel_logout_uri = Some(format!(
        "http://127.0.0.1:{}/backchannel-logout",
        free_port()
    ));
    let idp = start_with(vec![down], Lifetimes::default()).await;
    let (cookie, _) = idp.login_as_alice().await;
    let started = Instant::now();
    let page = idp
        .get(
            &idp.end_session_url(&[
                ("client_id", CLIENT_ID),
                ("post_logout_redirect_uri", POST_LOGOUT_REDIRECT_URI),
            ]),
            Some(&cookie),
        )
        .await;
    assert_eq!(page.location.as_deref(), Some(POST_LOGOUT_REDIRECT_URI));
    assert!(started.elapsed() < Duration::from_secs(2));
    // The IdP still answers afterwards.
    assert_eq!(idp.get(&idp.authorize_url(&[]), None).await.status, 200);
}
