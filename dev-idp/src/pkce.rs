//! PKCE (RFC 7636) as the token endpoint checks it: S256 only.

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// RFC 7636 §4.1 and §4.6: a verifier of 43 to 128 unreserved characters whose S256 is the
/// challenge, compared in constant time.
pub fn verifies(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    let matches: bool = computed.as_bytes().ct_eq(challenge.as_bytes()).into();
    well_formed && matches
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        assert!(verifies(VERIFIER, CHALLENGE));
        assert!(!verifies(&VERIFIER[1..], CHALLENGE));
        assert!(!verifies(CHALLENGE, CHALLENGE));
    }
}
