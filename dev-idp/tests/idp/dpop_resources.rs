//! DPoP-bound access tokens at UserInfo and the demo API (RFC 9449 §7): the proof's `ath`,
//! key and URL, the scheme the token must come with, nonces, step-up challenges in the DPoP
//! scheme, and revocation of bound tokens.

use crate::dpop::{bound_tokens, redeem_form, token_with_proofs};
use crate::signer::EcKey;
use crate::support::*;

fn dpop(token: &str) -> String {
    format!("DPoP {token}")
}

async fn with_dpop(idp: &Idp, url: &str, token: &str, proof: Option<&str>) -> Answer {
    let authorization = dpop(token);
    let mut headers = vec![("Authorization", authorization.as_str())];
    if let Some(proof) = proof {
        headers.push(("DPoP", proof));
    }
    idp.get_with_headers(url, &headers).await
}

fn challenge(answer: &Answer) -> String {
    answer.www_authenticate.clone().unwrap_or_default()
}

#[rocket::async_test]
async fn a_bound_token_with_a_good_proof_is_served() {
    let idp = start().await;
    let key = EcKey::generate();
    let access_token = text_of(&bound_tokens(&idp, &key).await, "access_token");
    let userinfo = format!("{}/userinfo", idp.url);
    let proof = key.resource_proof(&userinfo, &access_token, None);
    let answer = with_dpop(&idp, &userinfo, &access_token, Some(&proof)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json["sub"], ALICE);

    let hello = format!("{}/demo-api/hello", idp.url);
    let proof = key.resource_proof(&hello, &access_token, None);
    let answer = with_dpop(&idp, &format!("{hello}?x=1"), &access_token, Some(&proof)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.json["sub"], ALICE);
}

#[rocket::async_test]
async fn each_defect_of_a_resource_proof_is_refused() {
    let idp = start().await;
    let key = EcKey::generate();
    let access_token = text_of(&bound_tokens(&idp, &key).await, "access_token");
    let userinfo = format!("{}/userinfo", idp.url);
    let other = EcKey::generate();

    let (header, mut claims) = key.proof_parts("GET", &userinfo);
    claims["ath"] = crate::signer::b64([0u8; 32]).into();
    let wrong_ath = key.sign(&header, &claims);
    let (header, claims) = key.proof_parts("GET", &userinfo);
    let no_ath = key.sign(&header, &claims);
    let (mut header, claims) = key.proof_parts("GET", &userinfo);
    header["alg"] = "ES256\"\r\nX-Injected: yes".into();
    let injected = key.sign(&header, &claims);
    let cases = [
        ("wrong ath", Some(wrong_ath)),
        ("no ath", Some(no_ath)),
        ("no proof", None),
        ("an alg that would break the header", Some(injected)),
        (
            "another key",
            Some(other.resource_proof(&userinfo, &access_token, None)),
        ),
        (
            "proof for another URL",
            Some(key.resource_proof(&format!("{}/demo-api/hello", idp.url), &access_token, None)),
        ),
    ];
    for (case, proof) in cases {
        let answer = with_dpop(&idp, &userinfo, &access_token, proof.as_deref()).await;
        assert_eq!(answer.status, 401, "{case}: {answer:?}");
        let challenge = challenge(&answer);
        assert!(
            challenge.starts_with(r#"DPoP algs="ES256 PS256 RS256", error="invalid_dpop_proof""#),
            "{case}: {challenge}"
        );
    }
    // A proof for POST is not one for GET.
    let (header, mut claims) = key.proof_parts("POST", &userinfo);
    claims["ath"] = crate::signer::b64(sha2::Sha256::digest(access_token.as_bytes())).into();
    let answer = with_dpop(
        &idp,
        &userinfo,
        &access_token,
        Some(&key.sign(&header, &claims)),
    )
    .await;
    assert_eq!(answer.status, 401, "{answer:?}");
}

use sha2::Digest;

#[rocket::async_test]
async fn a_bound_token_as_bearer_and_a_bearer_token_as_dpop_are_refused() {
    let idp = start().await;
    let key = EcKey::generate();
    let bound = text_of(&bound_tokens(&idp, &key).await, "access_token");
    let as_bearer = idp.userinfo(&bound).await;
    assert_eq!(as_bearer.status, 401);
    assert!(
        challenge(&as_bearer)
            .starts_with(r#"DPoP algs="ES256 PS256 RS256", error="invalid_token""#),
        "{as_bearer:?}"
    );
    let hello = format!("{}/demo-api/hello", idp.url);
    let at_api = idp.get_with_token(&hello, Some(&bound)).await;
    assert_eq!(at_api.status, 401);
    assert!(challenge(&at_api).contains(r#"error="invalid_token""#));

    let (code, _) = idp.code_for_alice(None).await;
    let bearer = text_of(&idp.redeem(&code, VERIFIER).await.json, "access_token");
    let userinfo = format!("{}/userinfo", idp.url);
    let proof = key.resource_proof(&userinfo, &bearer, None);
    let as_dpop = with_dpop(&idp, &userinfo, &bearer, Some(&proof)).await;
    assert_eq!(as_dpop.status, 401, "{as_dpop:?}");
    assert!(challenge(&as_dpop).contains(r#"error="invalid_token""#));
    assert_eq!(idp.userinfo(&bearer).await.status, 200, "fine as Bearer");
}

#[rocket::async_test]
async fn the_step_up_challenge_uses_the_scheme_of_the_token() {
    let idp = start().await;
    let key = EcKey::generate();
    let bound = text_of(&bound_tokens(&idp, &key).await, "access_token");
    let sensitive = format!("{}/demo-api/sensitive", idp.url);
    let proof = key.resource_proof(&sensitive, &bound, None);
    let answer = with_dpop(&idp, &sensitive, &bound, Some(&proof)).await;
    assert_eq!(answer.status, 401);
    let challenge = challenge(&answer);
    assert!(challenge.starts_with("DPoP "), "{challenge}");
    assert!(
        challenge.contains(r#"error="insufficient_user_authentication""#),
        "{challenge}"
    );
    assert!(challenge.contains(r#"acr_values="mfa""#), "{challenge}");

    let (code, _) = idp.code_for_alice(None).await;
    let bearer = text_of(&idp.redeem(&code, VERIFIER).await.json, "access_token");
    let answer = idp.get_with_token(&sensitive, Some(&bearer)).await;
    assert!(answer.www_authenticate.unwrap().starts_with("Bearer "));
}

#[rocket::async_test]
async fn with_nonces_a_resource_asks_for_one_and_then_serves() {
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
    let nonce = token_with_proofs(&idp, &form, &[&key.proof("POST", &htu)])
        .await
        .dpop_nonce
        .expect("a nonce");
    let (header, mut claims) = key.proof_parts("POST", &htu);
    claims["nonce"] = nonce.clone().into();
    let tokens = token_with_proofs(&idp, &form, &[&key.sign(&header, &claims)]).await;
    let access_token = text_of(&tokens.json, "access_token");

    let userinfo = format!("{}/userinfo", idp.url);
    let without = key.resource_proof(&userinfo, &access_token, None);
    let answer = with_dpop(&idp, &userinfo, &access_token, Some(&without)).await;
    assert_eq!(answer.status, 401);
    assert!(
        challenge(&answer).contains(r#"error="use_dpop_nonce""#),
        "{answer:?}"
    );
    assert!(challenge(&answer).starts_with("DPoP "));
    let nonce = answer.dpop_nonce.expect("DPoP-Nonce with use_dpop_nonce");
    let with = key.resource_proof(&userinfo, &access_token, Some(&nonce));
    let answer = with_dpop(&idp, &userinfo, &access_token, Some(&with)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.dpop_nonce.is_some());
}

#[rocket::async_test]
async fn bound_tokens_are_revoked_without_a_proof() {
    let idp = start().await;
    let key = EcKey::generate();
    let tokens = bound_tokens(&idp, &key).await;
    let access_token = text_of(&tokens, "access_token");
    let refresh_token = text_of(&tokens, "refresh_token");
    let revoked = idp
        .back_channel("/revoke", BASIC, &[("token", refresh_token.as_str())])
        .await;
    assert_eq!(revoked.status, 200);
    let userinfo = format!("{}/userinfo", idp.url);
    let proof = key.resource_proof(&userinfo, &access_token, None);
    let answer = with_dpop(&idp, &userinfo, &access_token, Some(&proof)).await;
    assert_eq!(answer.status, 401);
    assert!(challenge(&answer).contains(r#"error="invalid_token""#));
}
