//! `private_key_jwt` (RFC 7523 §2.2, Core §9) at the token, PAR and revocation endpoints: a
//! good assertion authenticates, each defect is refused, and a client uses its own method only.

use std::time::Duration;

use dev_idp::{Client, ClientKeys, ClientSecret, Lifetimes};
use serde_json::json;

use crate::jwks_server::JwksServer;
use crate::signer::{now, tamper, EcKey};
use crate::support::*;

const PKJ_CLIENT: &str = "fapi-app";

fn pkj_client(keys: ClientKeys) -> Client {
    Client {
        client_secret: ClientSecret::private_key_jwt(keys),
        ..Client::for_app(PKJ_CLIENT, "", APP)
    }
}

fn inline(key: &EcKey) -> ClientKeys {
    ClientKeys {
        jwks_uri: None,
        jwks: Some(key.jwks()),
    }
}

/// The IdP with the secret client and a private_key_jwt client with `keys`.
async fn start_both(keys: ClientKeys) -> Idp {
    start_with(
        vec![
            Client::for_app(CLIENT_ID, CLIENT_SECRET, APP),
            pkj_client(keys),
        ],
        Lifetimes::default(),
    )
    .await
}

async fn code_for(idp: &Idp, client_id: &'static str) -> String {
    let (page, _) = idp
        .sign_in(
            &idp.code_url(&[("client_id", Some(client_id))]),
            "alice",
            None,
        )
        .await;
    field(&page.body, "code").expect("a code")
}

fn invalid_client(answer: &Answer, case: &str) {
    assert_eq!(answer.status, 401, "{case}: {:?}", answer.json);
    assert_eq!(
        answer.json["error"], "invalid_client",
        "{case}: {:?}",
        answer.json
    );
}

#[rocket::async_test]
async fn a_good_assertion_authenticates_at_token_par_and_revocation() {
    let key = EcKey::generate();
    let idp = start_both(inline(&key)).await;
    let code = code_for(&idp, PKJ_CLIENT).await;
    // `aud` may be the issuer or the endpoint's URL.
    let assertion = key.assertion(PKJ_CLIENT, &idp.url);
    let tokens = idp
        .redeem_as(Auth::Assertion(&assertion), &code, REDIRECT_URI, VERIFIER)
        .await;
    assert_eq!(tokens.status, 200, "{:?}", tokens.json);

    let assertion = key.assertion(PKJ_CLIENT, &format!("{}/par", idp.url));
    let params = [
        ("client_id", PKJ_CLIENT),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("response_mode", "form_post"),
        ("scope", "openid"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let pushed = idp
        .back_channel("/par", Auth::Assertion(&assertion), &params)
        .await;
    assert_eq!(pushed.status, 201, "{:?}", pushed.json);

    let refresh_token = text_of(&tokens.json, "refresh_token");
    let assertion = key.assertion(PKJ_CLIENT, &format!("{}/revoke", idp.url));
    let revoked = idp
        .back_channel(
            "/revoke",
            Auth::Assertion(&assertion),
            &[("token", refresh_token.as_str())],
        )
        .await;
    assert_eq!(revoked.status, 200);
    let assertion = key.assertion(PKJ_CLIENT, &idp.url);
    let refresh = idp
        .refresh_as(Auth::Assertion(&assertion), &refresh_token)
        .await;
    assert_eq!(refresh.json["error"], "invalid_grant", "it was revoked");
}

#[rocket::async_test]
async fn each_defect_of_an_assertion_is_refused_and_the_code_stays_good() {
    let key = EcKey::generate();
    let idp = start_both(inline(&key)).await;
    let code = code_for(&idp, PKJ_CLIENT).await;
    let stranger = EcKey::generate();
    let good = || key.assertion_parts(PKJ_CLIENT, &idp.url);
    let mut cases: Vec<(&str, String)> = Vec::new();
    let (header, mut claims) = good();
    claims["iss"] = CLIENT_ID.into();
    cases.push(("iss another client", key.sign(&header, &claims)));
    let (header, mut claims) = good();
    claims["sub"] = CLIENT_ID.into();
    cases.push(("sub another client", key.sign(&header, &claims)));
    let (header, mut claims) = good();
    claims["aud"] = "http://127.0.0.1:1".into();
    cases.push(("aud another server", key.sign(&header, &claims)));
    let (header, mut claims) = good();
    claims["aud"] = format!("{}/userinfo", idp.url).into();
    cases.push(("aud another endpoint", key.sign(&header, &claims)));
    let (header, mut claims) = good();
    claims["exp"] = json!(now() - 120);
    cases.push(("expired", key.sign(&header, &claims)));
    let (header, mut claims) = good();
    claims["exp"] = json!(now() + 3600);
    cases.push(("exp an hour ahead", key.sign(&header, &claims)));
    let (header, mut claims) = good();
    claims.as_object_mut().unwrap().remove("exp");
    cases.push(("no exp", key.sign(&header, &claims)));
    let (header, mut claims) = good();
    claims.as_object_mut().unwrap().remove("jti");
    cases.push(("no jti", key.sign(&header, &claims)));
    let (mut header, claims) = good();
    header["kid"] = stranger.kid.clone().into();
    cases.push(("unknown kid", stranger.sign(&header, &claims)));
    let (header, claims) = good();
    cases.push(("signed by another key", stranger.sign(&header, &claims)));
    cases.push((
        "tampered signature",
        tamper(&key.assertion(PKJ_CLIENT, &idp.url)),
    ));
    let (mut header, claims) = good();
    header["alg"] = "HS256".into();
    cases.push(("HS256", crate::signer::unsigned(&header, &claims, "c2ln")));
    cases.push(("not a JWT", "abc".into()));

    for (case, assertion) in &cases {
        let answer = idp
            .redeem_as(Auth::Assertion(assertion), &code, REDIRECT_URI, VERIFIER)
            .await;
        assert!(
            answer.status == 401 || answer.status == 400,
            "{case}: {answer:?}"
        );
        assert_ne!(answer.json["error"], "invalid_grant", "{case}");
        if answer.status == 401 {
            invalid_client(&answer, case);
        }
    }
    // A secret does not authenticate a private_key_jwt client, whatever it is.
    for secret in ["", "anything"] {
        let answer = idp
            .redeem_as(
                Auth::Basic(PKJ_CLIENT, secret),
                &code,
                REDIRECT_URI,
                VERIFIER,
            )
            .await;
        invalid_client(&answer, "a secret");
    }
    let assertion = key.assertion(PKJ_CLIENT, &idp.url);
    let answer = idp
        .redeem_as(Auth::Assertion(&assertion), &code, REDIRECT_URI, VERIFIER)
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    // Used once only.
    let again = idp
        .back_channel("/revoke", Auth::Assertion(&assertion), &[("token", "x")])
        .await;
    invalid_client(&again, "replayed jti");
}

#[rocket::async_test]
async fn a_secret_client_cannot_use_an_assertion() {
    let key = EcKey::generate();
    let idp = start_both(inline(&key)).await;
    let assertion = key.assertion(CLIENT_ID, &idp.url);
    let answer = idp
        .back_channel("/revoke", Auth::Assertion(&assertion), &[("token", "x")])
        .await;
    invalid_client(&answer, "assertion for a secret client");
    let both = idp
        .back_channel_with(
            "/revoke",
            BASIC,
            &[
                ("token", "x"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &key.assertion(PKJ_CLIENT, &idp.url)),
            ],
            &[],
        )
        .await;
    assert_eq!(both.status, 400, "two methods at once");
}

#[rocket::async_test]
async fn keys_come_from_the_jwks_uri_and_an_unknown_kid_fetches_them_again() {
    let first = EcKey::generate();
    let server = JwksServer::start(first.jwks()).await;
    let idp = start_with(
        vec![Client::for_app_with_jwks_uri(PKJ_CLIENT, &server.uri, APP)],
        Lifetimes::default(),
    )
    .await;
    let idp = &idp;
    let revoke = |assertion: String| async move {
        idp.back_channel("/revoke", Auth::Assertion(&assertion), &[("token", "x")])
            .await
    };
    assert_eq!(
        revoke(first.assertion(PKJ_CLIENT, &idp.url)).await.status,
        200
    );
    assert_eq!(
        revoke(first.assertion(PKJ_CLIENT, &idp.url)).await.status,
        200
    );
    assert_eq!(server.fetches(), 1, "cached");

    let rotated = EcKey::generate();
    server.replace(rotated.jwks());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        revoke(rotated.assertion(PKJ_CLIENT, &idp.url)).await.status,
        200
    );
    assert_eq!(server.fetches(), 2, "fetched again for the unknown kid");
    let stranger = EcKey::generate();
    invalid_client(
        &revoke(stranger.assertion(PKJ_CLIENT, &idp.url)).await,
        "unknown kid",
    );
    assert_eq!(server.fetches(), 2, "not fetched again at once");
}
