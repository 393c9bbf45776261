//! Authorization code binding to a DPoP key (RFC 9449 §10): a proof at `/par`, or `dpop_jkt`
//! in the authorization request, and the code is redeemed only with a proof of that key.

use crate::dpop::{redeem_form, token_with_proofs};
use crate::signer::EcKey;
use crate::support::*;

const PUSHED: [(&str, &str); 8] = [
    ("redirect_uri", REDIRECT_URI),
    ("response_type", "code"),
    ("response_mode", "form_post"),
    ("scope", "openid"),
    ("state", "s"),
    ("code_challenge", CHALLENGE),
    ("code_challenge_method", "S256"),
    ("nonce", "n"),
];

/// A code for a request pushed with a proof of `key`.
async fn code_pushed_with(idp: &Idp, key: &EcKey) -> String {
    let proof = key.proof("POST", &format!("{}/par", idp.url));
    let pushed = idp
        .back_channel_with("/par", BASIC, &PUSHED, &[("DPoP", &proof)])
        .await;
    assert_eq!(pushed.status, 201, "{:?}", pushed.json);
    let request_uri = text_of(&pushed.json, "request_uri");
    let url = url::Url::parse_with_params(
        &format!("{}/authorize", idp.url),
        [("client_id", CLIENT_ID), ("request_uri", &request_uri)],
    )
    .unwrap();
    let (page, _) = idp.sign_in(url.as_str(), "alice", None).await;
    field(&page.body, "code").expect("a code")
}

fn refused(answer: &Answer, case: &str) {
    assert_eq!(answer.status, 400, "{case}: {:?}", answer.json);
    assert_eq!(answer.json["error"], "invalid_dpop_proof", "{case}");
}

#[rocket::async_test]
async fn a_proof_at_par_binds_the_code_to_its_key() {
    let idp = start().await;
    let key = EcKey::generate();
    let token = format!("{}/token", idp.url);

    let code = code_pushed_with(&idp, &key).await;
    refused(
        &token_with_proofs(&idp, &redeem_form(&code), &[]).await,
        "no proof",
    );
    let code = code_pushed_with(&idp, &key).await;
    let other = EcKey::generate().proof("POST", &token);
    refused(
        &token_with_proofs(&idp, &redeem_form(&code), &[&other]).await,
        "another key",
    );
    let code = code_pushed_with(&idp, &key).await;
    let answer = token_with_proofs(&idp, &redeem_form(&code), &[&key.proof("POST", &token)]).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    assert_eq!(answer.json["token_type"], "DPoP");
}

#[rocket::async_test]
async fn dpop_jkt_in_the_request_binds_the_code() {
    let idp = start().await;
    let key = EcKey::generate();
    let jkt = key.thumbprint();
    let token = format!("{}/token", idp.url);
    let url = idp.code_url(&[("dpop_jkt", Some(&jkt))]);
    let (page, cookie) = idp.sign_in(&url, "alice", None).await;
    let code = field(&page.body, "code").expect("a code");
    let other = EcKey::generate().proof("POST", &token);
    refused(
        &token_with_proofs(&idp, &redeem_form(&code), &[&other]).await,
        "another key",
    );
    let (page, _) = idp.sign_in(&url, "alice", Some(&cookie)).await;
    let code = field(&page.body, "code").expect("a code");
    let answer = token_with_proofs(&idp, &redeem_form(&code), &[&key.proof("POST", &token)]).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);

    let malformed = idp
        .get(&idp.code_url(&[("dpop_jkt", Some("abc"))]), Some(&cookie))
        .await;
    assert_eq!(
        field(&malformed.body, "error").as_deref(),
        Some("invalid_request")
    );
}

#[rocket::async_test]
async fn dpop_jkt_at_par_must_be_the_proofs_key() {
    let idp = start().await;
    let key = EcKey::generate();
    let proof = key.proof("POST", &format!("{}/par", idp.url));
    let other = EcKey::generate().thumbprint();
    let mut params = PUSHED.to_vec();
    params.push(("dpop_jkt", &other));
    let answer = idp
        .back_channel_with("/par", BASIC, &params, &[("DPoP", &proof)])
        .await;
    refused(&answer, "dpop_jkt of another key");
}
