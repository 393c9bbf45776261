//! DPoP at the token endpoint (RFC 9449 §4.3, §5): a good proof binds the tokens, each defect
//! of a proof is refused, a bound refresh token needs its key, and server nonces.

use serde_json::json;

use crate::signer::{now, unsigned, EcKey};
use crate::support::*;

/// The token endpoint with a `DPoP` header for each of `proofs`.
pub async fn token_with_proofs(idp: &Idp, form: &[(&str, &str)], proofs: &[&str]) -> Answer {
    let headers: Vec<(&str, &str)> = proofs.iter().map(|p| ("DPoP", *p)).collect();
    idp.back_channel_with("/token", BASIC, form, &headers).await
}

pub fn redeem_form(code: &str) -> [(&str, &str); 4] {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", VERIFIER),
    ]
}

/// Alice's tokens, bound to `key`.
pub async fn bound_tokens(idp: &Idp, key: &EcKey) -> serde_json::Value {
    let (code, _) = idp.code_for_alice(None).await;
    let proof = key.proof("POST", &format!("{}/token", idp.url));
    let answer = token_with_proofs(idp, &redeem_form(&code), &[&proof]).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    answer.json
}

fn refused(answer: &Answer, error: &str, case: &str) {
    assert_eq!(answer.status, 400, "{case}: {:?}", answer.json);
    assert_eq!(answer.json["error"], error, "{case}: {:?}", answer.json);
}

#[rocket::async_test]
async fn a_proof_makes_dpop_tokens_and_no_proof_bearer_tokens() {
    let idp = start().await;
    let key = EcKey::generate();
    let tokens = bound_tokens(&idp, &key).await;
    assert_eq!(tokens["token_type"], "DPoP");

    let (code, _) = idp.code_for_alice(None).await;
    let plain = idp.redeem(&code, VERIFIER).await;
    assert_eq!(plain.json["token_type"], "Bearer");
}

#[rocket::async_test]
async fn each_defect_of_a_proof_is_refused_and_the_code_stays_good() {
    let idp = start().await;
    let key = EcKey::generate();
    let other = EcKey::generate();
    let htu = format!("{}/token", idp.url);
    let (code, _) = idp.code_for_alice(None).await;
    let form = redeem_form(&code);
    let good = || key.proof_parts("POST", &htu);

    let mut cases: Vec<(&str, String)> = Vec::new();
    let (mut header, claims) = good();
    header["typ"] = "JWT".into();
    cases.push(("typ JWT", key.sign(&header, &claims)));
    let (mut header, claims) = good();
    header.as_object_mut().unwrap().remove("typ");
    cases.push(("no typ", key.sign(&header, &claims)));
    let (mut header, claims) = good();
    header["alg"] = "none".into();
    cases.push(("alg none", unsigned(&header, &claims, "")));
    let (mut header, claims) = good();
    header["alg"] = "HS256".into();
    cases.push(("alg HS256", unsigned(&header, &claims, "c2lnbmF0dXJl")));
    let (mut header, claims) = good();
    header["jwk"] = key.private_jwk();
    cases.push(("private key in jwk", key.sign(&header, &claims)));
    let (mut header, claims) = good();
    header.as_object_mut().unwrap().remove("jwk");
    cases.push(("no jwk", key.sign(&header, &claims)));
    let (mut header, claims) = good();
    header["jwk"] = other.bare_jwk();
    cases.push(("signed by another key", key.sign(&header, &claims)));
    let (header, mut claims) = good();
    claims["htm"] = "GET".into();
    cases.push(("htm GET", key.sign(&header, &claims)));
    let (header, mut claims) = good();
    claims["htu"] = format!("{}/userinfo", idp.url).into();
    cases.push(("htu of another endpoint", key.sign(&header, &claims)));
    let (header, mut claims) = good();
    claims["htu"] = "http://127.0.0.1:1/token".into();
    cases.push(("htu of another server", key.sign(&header, &claims)));
    let (header, mut claims) = good();
    claims["iat"] = json!(now() - 300);
    cases.push(("iat 5 min ago", key.sign(&header, &claims)));
    let (header, mut claims) = good();
    claims["iat"] = json!(now() + 300);
    cases.push(("iat in 5 min", key.sign(&header, &claims)));
    let (header, mut claims) = good();
    claims.as_object_mut().unwrap().remove("jti");
    cases.push(("no jti", key.sign(&header, &claims)));
    let proof = key.proof("POST", &htu);
    cases.push(("tampered signature", crate::signer::tamper(&proof)));
    cases.push(("not a JWS", "abc".into()));

    for (case, proof) in &cases {
        refused(
            &token_with_proofs(&idp, &form, &[proof]).await,
            "invalid_dpop_proof",
            case,
        );
    }
    let two = [key.proof("POST", &htu), key.proof("POST", &htu)];
    refused(
        &token_with_proofs(&idp, &form, &[&two[0], &two[1]]).await,
        "invalid_dpop_proof",
        "two DPoP headers",
    );
    // The proof with a small skew is fine, and the code was not spent by the refusals.
    let (header, mut claims) = good();
    claims["iat"] = json!(now() - 20);
    let answer = token_with_proofs(&idp, &form, &[&key.sign(&header, &claims)]).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(answer.json["token_type"], "DPoP");
}

#[rocket::async_test]
async fn a_proof_is_used_once() {
    let idp = start().await;
    let key = EcKey::generate();
    let htu = format!("{}/token", idp.url);
    let (code, _) = idp.code_for_alice(None).await;
    let proof = key.proof("POST", &htu);
    let first = token_with_proofs(&idp, &redeem_form(&code), &[&proof]).await;
    assert_eq!(first.status, 200);
    let refresh_token = text_of(&first.json, "refresh_token");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
    ];
    refused(
        &token_with_proofs(&idp, &form, &[&proof]).await,
        "invalid_dpop_proof",
        "replayed jti",
    );
    let fresh = key.proof("POST", &htu);
    let answer = token_with_proofs(&idp, &form, &[&fresh]).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
}

#[rocket::async_test]
async fn a_bound_refresh_token_needs_a_proof_with_its_key() {
    let idp = start().await;
    let key = EcKey::generate();
    let htu = format!("{}/token", idp.url);
    let tokens = bound_tokens(&idp, &key).await;
    let refresh_token = text_of(&tokens, "refresh_token");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.as_str()),
    ];
    let other = EcKey::generate();
    refused(
        &token_with_proofs(&idp, &form, &[&other.proof("POST", &htu)]).await,
        "invalid_dpop_proof",
        "another key",
    );
    refused(
        &token_with_proofs(&idp, &form, &[]).await,
        "invalid_dpop_proof",
        "no proof",
    );
    let answer = token_with_proofs(&idp, &form, &[&key.proof("POST", &htu)]).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(answer.json["token_type"], "DPoP");
}

#[rocket::async_test]
async fn with_nonces_the_token_endpoint_asks_for_one_and_then_accepts_it() {
    let idp = start_configured(
        vec![dev_idp::Client::for_app(CLIENT_ID, CLIENT_SECRET, APP)],
        dev_idp::Lifetimes::default(),
        |options| options.dpop_nonce = true,
    )
    .await;
    let key = EcKey::generate();
    let htu = format!("{}/token", idp.url);
    let (code, _) = idp.code_for_alice(None).await;
    let form = redeem_form(&code);
    let first = token_with_proofs(&idp, &form, &[&key.proof("POST", &htu)]).await;
    refused(&first, "use_dpop_nonce", "no nonce");
    let nonce = first.dpop_nonce.expect("DPoP-Nonce with use_dpop_nonce");

    let (header, mut claims) = key.proof_parts("POST", &htu);
    claims["nonce"] = "made-up".into();
    let wrong = token_with_proofs(&idp, &form, &[&key.sign(&header, &claims)]).await;
    refused(&wrong, "use_dpop_nonce", "a nonce the server did not give");

    claims["nonce"] = nonce.clone().into();
    claims["jti"] = crate::signer::random_id().into();
    let answer = token_with_proofs(&idp, &form, &[&key.sign(&header, &claims)]).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(answer.json["token_type"], "DPoP");
    assert!(
        answer.dpop_nonce.is_some(),
        "successful answers carry the nonce"
    );
}

#[rocket::async_test]
async fn without_nonces_configured_no_nonce_is_sent_or_needed() {
    let idp = start().await;
    let key = EcKey::generate();
    let (code, _) = idp.code_for_alice(None).await;
    let proof = key.proof("POST", &format!("{}/token", idp.url));
    let answer = token_with_proofs(&idp, &redeem_form(&code), &[&proof]).await;
    assert_eq!(answer.status, 200);
    assert!(answer.dpop_nonce.is_none());
}
