//! `IdTokenValidator::validate` on hostile input: it must never panic, and whatever it accepts
//! must satisfy every ID token rule (checked from the token text by `common::check_accepted`).
//!
//! Input: byte 0 picks the mode and the expectations, the rest is mode-specific:
//! - mode 0 (raw): the rest is the token text;
//! - mode 1 (segments): the rest split at `\n`, each piece base64url-encoded, joined with `.`;
//! - mode 2 (segments, standard alphabet with padding);
//! - mode 3 (signed): `header\nclaims`, signed with a published test key (see `Signer::sign`),
//!   so the claim checks behind the signature are reached.
//!
//! In modes 1–3 `$ISS`, `$AUD`, `$NONCE`, `$NOW`, `$EXP`, `$OLD`, `$FUT` are replaced first.
//! Bit 2 of byte 0 adds an access token (`at_hash` must match it when present), bit 3 a code
//! whose `c_hash` is required.
#![no_main]

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use oidc_bff::testing::oidc::validate::{Expected, IdTokenValidator, ValidationRules};

const ISSUER: &str = "https://idp.fuzz.example";
const CLIENT_ID: &str = "fuzz-client";
const NONCE: &str = "n";
const SKEW_SECS: u64 = 60;
/// What the IdP advertises; `ValidationRules::accepted_algorithms` keeps the asymmetric ones.
const ADVERTISED: &[&str] = &["RS256", "PS256", "ES256", "ES384", "EdDSA", "HS256", "none"];
const ACCEPTABLE: &[&str] = &["RS256", "PS256", "ES256", "ES384", "EdDSA"];

struct Setup {
    validator: IdTokenValidator,
    signer: common::Signer,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let signer = common::Signer::load();
        // Whatever key-set type the validator takes (`keys::KeySet`), parsed from JSON.
        let keys = serde_json::from_value(signer.jwks()).expect("test JWKS parses");
        let advertised: Vec<String> = ADVERTISED.iter().map(|s| s.to_string()).collect();
        let rules = ValidationRules {
            issuer: ISSUER.into(),
            client_id: CLIENT_ID.into(),
            clock_skew: Duration::from_secs(SKEW_SECS),
            algorithms: ValidationRules::accepted_algorithms(&advertised).expect("algorithms"),
        };
        let validator = IdTokenValidator::new(&rules, keys).expect("validator");
        Setup { validator, signer }
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let setup = setup();
    let ctx = common::Ctx {
        issuer: ISSUER,
        client_id: CLIENT_ID,
        nonce: NONCE,
        now: now(),
        skew: SKEW_SECS as i64,
    };
    let token = match selector & 3 {
        0 => match std::str::from_utf8(rest) {
            Ok(text) => text.to_string(),
            Err(_) => return,
        },
        1 | 2 => {
            let rest = common::substitute(rest, &ctx);
            common::join_segments(rest.split(|&b| b == b'\n'), selector & 3 == 2)
        }
        _ => {
            let rest = common::substitute(rest, &ctx);
            let (header, claims) = match rest.iter().position(|&b| b == b'\n') {
                Some(at) => (&rest[..at], &rest[at + 1..]),
                None => (&[][..], &rest[..]),
            };
            setup.signer.sign(header, claims)
        }
    };
    let access_token = (selector & 4 != 0).then_some("fuzz-access-token");
    let code = (selector & 8 != 0).then_some("fuzz-code");
    let expected = Expected {
        nonce: NONCE,
        access_token,
        code,
        require_code_hash: code.is_some(),
    };
    if let Ok(verified) = setup.validator.validate(&token, &expected) {
        let claims = common::check_accepted(
            &token,
            &ctx,
            ACCEPTABLE,
            access_token,
            code,
            expected.require_code_hash,
        )
        .unwrap_or_else(|violation| panic!("{violation}: {token}"));
        assert_eq!(verified.issuer, ISSUER);
        if let Some(sub) = claims.get("sub").and_then(|s| s.as_str()) {
            assert_eq!(verified.subject, sub, "{token}");
        }
        for hidden in ["nonce", "at_hash", "c_hash"] {
            assert!(
                !verified.claims.contains_key(hidden),
                "{hidden} kept: {token}"
            );
        }
    }
});
