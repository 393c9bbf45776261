//! The grants' rules, one test each: codes once, rotation, revocation, bounds.

use chrono::Utc;

use super::*;
use crate::accounts::ACCOUNTS;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const CLIENT: &str = "oidc-bff-dev";
const REDIRECT: &str = "http://localhost:3000/callback";

fn grant() -> Grant {
    Grant {
        account: &ACCOUNTS[0],
        client_id: CLIENT.into(),
        nonce: Some("n".into()),
        scopes: vec!["openid".into(), "profile".into(), "email".into()],
        auth_time: Utc::now(),
        sid: "sid".into(),
        acr: "pwd",
        amr: &["pwd"],
        picture_url: "http://127.0.0.1:4000/avatars/alice.svg".into(),
    }
}

fn grants() -> Grants {
    Grants::new(Lifetimes::with_access_token_ttl(DEFAULT_ACCESS_TOKEN_TTL))
}

fn redeem(grants: &Grants, code: &str) -> Result<Issued, GrantError> {
    grants.redeem_code(code, CLIENT, Some(REDIRECT), Some(VERIFIER), None)
}

fn invalid_grant(result: Result<Issued, GrantError>) -> bool {
    matches!(result, Err(GrantError::Invalid(_)))
}

#[test]
fn a_code_is_redeemed_once_for_tokens_of_its_grant() {
    let grants = grants();
    let code = grants.issue_code(grant(), REDIRECT, CHALLENGE);
    assert!(code.len() >= 43, "at least 256 bits, base64url");
    let issued = redeem(&grants, &code).unwrap();
    assert_ne!(issued.access_token, issued.refresh_token);
    assert_eq!(issued.expires_in, DEFAULT_ACCESS_TOKEN_TTL);
    let claims = grants.access(&issued.access_token).unwrap();
    assert_eq!(claims.account.username, "alice");
    assert!(grants.access(&issued.refresh_token).is_none());
    assert!(grants.access("guess").is_none());
}

#[test]
fn a_code_redeems_to_the_id_token_signed_with_it_for_the_access_token_it_issues() {
    let grants = grants();
    let code = grants.issue_bound_code(grant(), REDIRECT, CHALLENGE, None, |grant, at| {
        Some(format!("id-token({},{at})", grant.account.username))
    });
    let issued = redeem(&grants, &code).unwrap();
    let expected = format!("id-token(alice,{})", issued.access_token);
    assert_eq!(issued.id_token.as_deref(), Some(expected.as_str()));
    assert!(grants.access(&issued.access_token).is_some());
    // A refresh answers no ID token.
    let refreshed = grants
        .refresh(&issued.refresh_token, CLIENT, None, None)
        .unwrap();
    assert_eq!(refreshed.id_token, None);
}

#[test]
fn a_reused_code_fails_and_revokes_what_the_first_use_issued() {
    let grants = grants();
    let code = grants.issue_code(grant(), REDIRECT, CHALLENGE);
    let first = redeem(&grants, &code).unwrap();
    assert!(invalid_grant(redeem(&grants, &code)));
    assert!(grants.access(&first.access_token).is_none());
    assert!(invalid_grant(grants.refresh(
        &first.refresh_token,
        CLIENT,
        None,
        None
    )));
    // A third attempt still fails.
    assert!(invalid_grant(redeem(&grants, &code)));
}

#[test]
fn a_wrong_verifier_redirect_uri_or_client_spends_the_code_without_tokens() {
    let attempts: [(&str, Option<&str>, Option<&str>, bool); 6] = [
        (CLIENT, Some(REDIRECT), Some(&CHALLENGE[..43]), true),
        (CLIENT, Some(REDIRECT), Some("short"), true),
        (CLIENT, Some(REDIRECT), None, false),
        (
            CLIENT,
            Some("http://localhost:3000/other"),
            Some(VERIFIER),
            true,
        ),
        (CLIENT, None, Some(VERIFIER), false),
        ("another-client", Some(REDIRECT), Some(VERIFIER), true),
    ];
    for (client, redirect_uri, verifier, is_invalid_grant) in attempts {
        let grants = grants();
        let code = grants.issue_code(grant(), REDIRECT, CHALLENGE);
        let result = grants.redeem_code(&code, client, redirect_uri, verifier, None);
        if is_invalid_grant {
            assert!(
                invalid_grant(result),
                "{client} {redirect_uri:?} {verifier:?}"
            );
        } else {
            assert!(matches!(result, Err(GrantError::Malformed(_))));
        }
        assert_eq!(grants.counts().1, 0, "no access token issued");
        assert!(invalid_grant(redeem(&grants, &code)), "the code is spent");
    }
}

#[test]
fn codes_and_access_tokens_expire() {
    let grants = Grants::new(Lifetimes {
        code: Duration::from_millis(30),
        access_token: Duration::from_millis(30),
        refresh_token: Duration::from_secs(60),
    });
    let late = grants.issue_code(grant(), REDIRECT, CHALLENGE);
    let code = grants.issue_code(grant(), REDIRECT, CHALLENGE);
    let issued = redeem(&grants, &code).unwrap();
    assert!(grants.access(&issued.access_token).is_some());
    std::thread::sleep(Duration::from_millis(40));
    assert!(invalid_grant(redeem(&grants, &late)));
    assert!(grants.access(&issued.access_token).is_none());
    // The refresh token outlives its access token.
    assert!(grants
        .refresh(&issued.refresh_token, CLIENT, None, None)
        .is_ok());
}

#[test]
fn refresh_rotates_and_may_only_narrow_the_scope() {
    let grants = grants();
    let code = grants.issue_code(grant(), REDIRECT, CHALLENGE);
    let first = redeem(&grants, &code).unwrap();
    let second = grants
        .refresh(&first.refresh_token, CLIENT, None, None)
        .unwrap();
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(second.family, first.family);
    assert!(invalid_grant(grants.refresh(
        &first.refresh_token,
        CLIENT,
        None,
        None
    )));
    assert!(invalid_grant(grants.refresh(
        &second.refresh_token,
        "other",
        None,
        None
    )));
    assert!(matches!(
        grants.refresh(
            &second.refresh_token,
            CLIENT,
            Some("openid offline_access"),
            None
        ),
        Err(GrantError::ScopeNotGranted(_))
    ));
    let narrow = grants
        .refresh(&second.refresh_token, CLIENT, Some("openid email"), None)
        .unwrap();
    assert_eq!(narrow.grant.scopes, ["openid", "email"]);
    assert!(!grants
        .access(&narrow.access_token)
        .unwrap()
        .has_scope("profile"));
    // The refresh token keeps the whole grant.
    let wide = grants
        .refresh(&narrow.refresh_token, CLIENT, None, None)
        .unwrap();
    assert!(wide.grant.has_scope("profile"));
}

#[test]
fn revoking_a_refresh_token_revokes_its_access_tokens_too() {
    let grants = grants();
    let first = redeem(&grants, &grants.issue_code(grant(), REDIRECT, CHALLENGE)).unwrap();
    let second = grants
        .refresh(&first.refresh_token, CLIENT, None, None)
        .unwrap();
    let other = redeem(&grants, &grants.issue_code(grant(), REDIRECT, CHALLENGE)).unwrap();
    assert!(!grants.revoke(&second.refresh_token, "another-client"));
    assert!(grants.revoke(&second.refresh_token, CLIENT));
    for access_token in [&first.access_token, &second.access_token] {
        assert!(grants.access(access_token).is_none());
    }
    assert!(invalid_grant(grants.refresh(
        &second.refresh_token,
        CLIENT,
        None,
        None
    )));
    assert!(
        grants.access(&other.access_token).is_some(),
        "other logins stay"
    );
    assert!(
        !grants.revoke(&second.refresh_token, CLIENT),
        "already gone"
    );
    assert!(!grants.revoke("never-issued", CLIENT));
    // An access token alone.
    assert!(grants.revoke(&other.access_token, CLIENT));
    assert!(grants.access(&other.access_token).is_none());
    assert!(grants
        .refresh(&other.refresh_token, CLIENT, None, None)
        .is_ok());
}

#[test]
fn memory_is_bounded_and_expired_entries_are_swept() {
    // Long enough for the first code to be redeemed on a loaded machine (a 1 ms lifetime
    // failed there), short enough to wait out.
    let lifetime = Duration::from_millis(200);
    let grants = Grants::new(Lifetimes {
        code: lifetime,
        access_token: lifetime,
        refresh_token: lifetime,
    });
    let code = grants.issue_code(grant(), REDIRECT, CHALLENGE);
    redeem(&grants, &code).unwrap();
    for _ in 0..MAX_CODES + 10 {
        grants.issue_code(grant(), REDIRECT, CHALLENGE);
    }
    assert!(grants.counts().0 <= MAX_CODES);
    // Time itself: every code issued above expires.
    std::thread::sleep(lifetime + Duration::from_millis(50));
    grants.inner.lock().unwrap().next_sweep = Instant::now();
    grants.issue_code(grant(), REDIRECT, CHALLENGE);
    // Only the new code: the flood filled the table, which dropped the redeemed code's memory
    // first (a_full_code_table_drops_redeemed_codes_before_fresh_ones), then swept the rest.
    assert_eq!(grants.counts(), (1, 0, 0));
}

#[test]
fn a_full_code_table_drops_redeemed_codes_before_fresh_ones() {
    use super::bounded::{insert_bounded, key, CodeEntry, CodeState, Key};
    use std::collections::HashMap;
    let now = Instant::now();
    let pending = |secs| CodeEntry {
        state: CodeState::Pending {
            grant: std::sync::Arc::new(grant()),
            redirect_uri: REDIRECT.into(),
            code_challenge: CHALLENGE.into(),
            dpop_jkt: None,
            access_token: "at".into(),
            id_token: None,
        },
        expires: now + Duration::from_secs(secs),
    };
    let redeemed = CodeEntry {
        state: CodeState::Redeemed { family: 1 },
        expires: now + Duration::from_secs(660),
    };
    let mut codes: HashMap<Key, CodeEntry> = HashMap::new();
    insert_bounded(&mut codes, 3, key("redeemed"), redeemed, now);
    insert_bounded(&mut codes, 3, key("fresh-1"), pending(60), now);
    insert_bounded(&mut codes, 3, key("fresh-2"), pending(60), now);
    insert_bounded(&mut codes, 3, key("fresh-3"), pending(60), now);
    assert!(!codes.contains_key(&key("redeemed")));
    for fresh in ["fresh-1", "fresh-2", "fresh-3"] {
        assert!(codes.contains_key(&key(fresh)), "{fresh} was dropped");
    }
    // With nothing only remembered, the one closest to expiry goes.
    insert_bounded(&mut codes, 3, key("fresh-4"), pending(60), now);
    assert_eq!(codes.len(), 3);
    assert!(codes.contains_key(&key("fresh-4")));
}
