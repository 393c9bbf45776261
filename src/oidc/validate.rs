//! ID token validation, OpenID Connect Core 3.2.2.11 (implicit / form_post) and 3.1.3.7.
//!
//! The `openidconnect` crate checks the signature, `iss`, `aud` (other audiences untrusted),
//! `exp`, the nonce and the JOSE header. It has no clock skew and leaves `azp` alone, so both
//! are added here. One validator is built per key set and reused for every login.

use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, ClaimsVerificationError, ClientId, IdToken, IdTokenClaims, IdTokenVerifier,
    IssuerUrl, Nonce, SignatureVerificationError,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::keys::{FastKey, KeySet};

/// Claims beyond the standard ones (e.g. an IdP's namespaced claims), kept for the profile page.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OtherClaims {
    /// Every claim this crate does not model itself.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}
impl AdditionalClaims for OtherClaims {}

type Token = IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type Claims = IdTokenClaims<OtherClaims, CoreGenderClaim>;

/// Asymmetric algorithms we verify. `none` and the HMAC family are never accepted: an HMAC
/// "signature" keyed with a public value proves nothing.
const ACCEPTED_ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// Claims that only matter to validation and are not kept in the session.
const VALIDATION_ONLY_CLAIMS: &[&str] = &["nonce", "at_hash", "c_hash", "s_hash"];

/// Why an ID token was rejected, one variant per rule.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum IdTokenError {
    /// Not a well-formed JWT.
    #[error("the ID token is malformed ({0})")]
    Malformed(String),
    /// Signed with a key the key set lacks.
    #[error("the ID token is signed with a key the identity provider does not publish")]
    UnknownKey {
        /// The `kid` of the token's header, if it has one.
        kid: Option<String>,
    },
    /// The signature does not verify.
    #[error("the ID token's signature is invalid")]
    BadSignature,
    /// Signed with `none`, HMAC or another algorithm not allowed.
    #[error("the ID token's signing algorithm is not allowed ({0})")]
    DisallowedAlgorithm(String),
    /// `iss` is not the configured issuer.
    #[error("the ID token was issued by another identity provider ({0})")]
    WrongIssuer(String),
    /// `aud` does not contain this client.
    #[error("the ID token is meant for another application ({0})")]
    WrongAudience(String),
    /// `azp` is missing with several audiences, or names another client.
    #[error("the ID token was obtained by another application (azp)")]
    WrongAuthorizedParty,
    /// `exp` has passed (beyond the clock skew).
    #[error("the ID token has expired")]
    Expired,
    /// `iat` is in the future (beyond the clock skew).
    #[error("the ID token is issued in the future: the clocks of this server and the identity provider disagree")]
    IssuedInFuture,
    /// `nbf` lies in the future beyond the clock skew (RFC 7519 §4.1.5).
    #[error("the ID token is not valid yet (nbf): the clocks of this server and the identity provider disagree")]
    NotYetValid,
    /// `nonce` is not this login attempt's.
    #[error("the ID token does not belong to this login attempt (nonce mismatch)")]
    NonceMismatch,
    /// `at_hash` does not match the access token.
    #[error("the ID token does not match its access token (at_hash)")]
    AccessTokenHashMismatch,
    /// `c_hash` is missing or does not match the code.
    #[error("the ID token does not match its authorization code (c_hash)")]
    CodeHashMismatch,
    /// Any other reason the `openidconnect` crate gives.
    #[error("the ID token is not acceptable ({0})")]
    Unacceptable(String),
}

/// What this particular ID token must match besides the fixed rules.
#[derive(Debug, Default)]
pub struct Expected<'a> {
    /// The login attempt's nonce.
    pub nonce: &'a str,
    /// The access token issued with it: `at_hash`, when present, must match it.
    pub access_token: Option<&'a str>,
    /// The authorization code issued with it: `c_hash` must match it.
    pub code: Option<&'a str>,
    /// Core 3.3.2.11: an ID token from the authorization endpoint of the hybrid flow must carry
    /// `c_hash`.
    pub require_code_hash: bool,
}

/// What a successfully validated ID token tells us.
#[derive(Debug, Clone)]
pub struct VerifiedIdToken {
    /// `sub`.
    pub subject: String,
    /// `iss`.
    pub issuer: String,
    /// The IdP's session id (`sid`), used for logout.
    pub session_id: Option<String>,
    /// Every claim but the validation-only ones, as JSON values for the profile page.
    pub claims: Map<String, Value>,
}

/// The rules that do not change between logins.
#[derive(Debug, Clone)]
pub struct ValidationRules {
    /// The issuer identifier, exactly as in the discovery document.
    pub issuer: String,
    /// This app's client id, which `aud` must contain.
    pub client_id: String,
    /// Tolerance for clock differences when checking `exp` and `iat`.
    pub clock_skew: Duration,
    /// Algorithms advertised by the IdP, already narrowed to `ACCEPTED_ALGORITHMS`.
    pub algorithms: Vec<CoreJwsSigningAlgorithm>,
}

impl ValidationRules {
    /// Keeps the advertised algorithms we accept; `None` when there is none left.
    pub fn accepted_algorithms(advertised: &[String]) -> Option<Vec<CoreJwsSigningAlgorithm>> {
        let algorithms: Vec<_> = advertised
            .iter()
            .filter(|alg| ACCEPTED_ALGORITHMS.contains(&alg.as_str()))
            .filter_map(|alg| serde_json::from_value(Value::String(alg.clone())).ok())
            .collect();
        (!algorithms.is_empty()).then_some(algorithms)
    }
}

/// Checks ID tokens against fixed rules and one key set; built once per key set.
#[derive(Clone)]
pub struct IdTokenValidator {
    verifier: IdTokenVerifier<'static, FastKey>,
    client_id: String,
    clock_skew: i64,
}

impl IdTokenValidator {
    /// A validator for `rules` with the IdP's `keys`; an error names what is unusable.
    pub fn new(rules: &ValidationRules, keys: KeySet) -> Result<Self, String> {
        let issuer = IssuerUrl::new(rules.issuer.clone()).map_err(|e| e.to_string())?;
        let skew = TimeDelta::from_std(rules.clock_skew).map_err(|e| e.to_string())?;
        let verifier = IdTokenVerifier::new_public_client(
            ClientId::new(rules.client_id.clone()),
            issuer,
            keys,
        )
        .set_allowed_algs(rules.algorithms.iter().cloned())
        // `exp` is compared with a clock set back by the skew: a token is accepted
        // until `exp + skew`.
        .set_time_fn(move || Utc::now() - skew)
        .set_issue_time_verifier_fn(move |iat: DateTime<Utc>| {
            if iat > Utc::now() + skew {
                Err(ISSUED_IN_FUTURE.to_string())
            } else {
                Ok(())
            }
        });
        Ok(Self {
            verifier,
            client_id: rules.client_id.clone(),
            clock_skew: skew.num_seconds(),
        })
    }

    /// Validates `token` for the login attempt that sent `expected_nonce`.
    pub fn validate(
        &self,
        token: &str,
        expected: &Expected<'_>,
    ) -> Result<VerifiedIdToken, IdTokenError> {
        // Refused before anything is decoded: a header that large is not an IdP's.
        if token.split('.').next().map_or(0, str::len) > MAX_HEADER_LEN {
            return Err(IdTokenError::Malformed(
                "its header is larger than 8 KiB".into(),
            ));
        }
        let parsed = Token::from_str(token).map_err(|e| IdTokenError::Malformed(short(&e)))?;
        let alg = parsed
            .signing_alg()
            .map_err(|e| IdTokenError::DisallowedAlgorithm(e.to_string()))?
            .clone();
        let nonce = Nonce::new(expected.nonce.to_string());
        let claims = parsed
            .into_claims(&self.verifier, &nonce)
            .map_err(|e| classify(e, token))?;
        self.check_authorized_party(&claims)?;
        self.check_not_before(&claims)?;
        check_hashes(&claims, &alg, expected)?;
        Ok(verified(claims))
    }

    /// RFC 7519 §4.1.5: a token with `nbf` must not be accepted before that time (give or take
    /// the clock skew). `openidconnect` leaves `nbf` among the other claims, unchecked.
    fn check_not_before(&self, claims: &Claims) -> Result<(), IdTokenError> {
        match claims.additional_claims().rest.get("nbf") {
            None => Ok(()),
            Some(nbf) => match nbf.as_f64() {
                Some(nbf) if nbf > (crate::clock::now() + self.clock_skew) as f64 => {
                    Err(IdTokenError::NotYetValid)
                }
                Some(_) => Ok(()),
                None => Err(IdTokenError::Malformed("nbf is not a number".into())),
            },
        }
    }

    /// Core 3.1.3.7 steps 4-5: with several audiences `azp` must be present, and when present
    /// it must be our client id.
    fn check_authorized_party(&self, claims: &Claims) -> Result<(), IdTokenError> {
        match claims.authorized_party() {
            Some(azp) if azp.as_str() == self.client_id => Ok(()),
            Some(_) => Err(IdTokenError::WrongAuthorizedParty),
            None if claims.audiences().len() > 1 => Err(IdTokenError::WrongAuthorizedParty),
            None => Ok(()),
        }
    }
}

const ISSUED_IN_FUTURE: &str = "issued in the future";

/// Core 3.1.3.8 / 3.3.2.10 / 3.3.2.11: `at_hash` and `c_hash` are the left half of the hash
/// (of the JOSE algorithm's size) of the token or code, base64url-encoded.
fn check_hashes(
    claims: &Claims,
    alg: &CoreJwsSigningAlgorithm,
    expected: &Expected<'_>,
) -> Result<(), IdTokenError> {
    if let (Some(at_hash), Some(access_token)) = (claims.access_token_hash(), expected.access_token)
    {
        if !hash_matches(alg, access_token, at_hash.as_str()) {
            return Err(IdTokenError::AccessTokenHashMismatch);
        }
    }
    match (claims.code_hash(), expected.code) {
        (Some(c_hash), Some(code)) if !hash_matches(alg, code, c_hash.as_str()) => {
            Err(IdTokenError::CodeHashMismatch)
        }
        (None, Some(_)) if expected.require_code_hash => Err(IdTokenError::CodeHashMismatch),
        _ => Ok(()),
    }
}

fn hash_matches(alg: &CoreJwsSigningAlgorithm, value: &str, claimed: &str) -> bool {
    use sha2::{Digest, Sha256, Sha384, Sha512};
    use CoreJwsSigningAlgorithm as A;
    let digest: Vec<u8> = match alg {
        A::RsaSsaPkcs1V15Sha256 | A::RsaSsaPssSha256 | A::EcdsaP256Sha256 => {
            Sha256::digest(value.as_bytes()).to_vec()
        }
        A::RsaSsaPkcs1V15Sha384 | A::RsaSsaPssSha384 | A::EcdsaP384Sha384 => {
            Sha384::digest(value.as_bytes()).to_vec()
        }
        // Ed25519 hashes with SHA-512 (OpenID Connect Core errata for EdDSA).
        _ => Sha512::digest(value.as_bytes()).to_vec(),
    };
    let half = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2]);
    subtle::ConstantTimeEq::ct_eq(half.as_bytes(), claimed.as_bytes()).into()
}

fn classify(error: ClaimsVerificationError, token: &str) -> IdTokenError {
    use ClaimsVerificationError as C;
    use SignatureVerificationError as S;
    match error {
        C::Expired(msg) if msg == ISSUED_IN_FUTURE => IdTokenError::IssuedInFuture,
        C::Expired(_) => IdTokenError::Expired,
        C::InvalidIssuer(msg) => IdTokenError::WrongIssuer(msg),
        C::InvalidAudience(msg) => IdTokenError::WrongAudience(msg),
        C::InvalidNonce(_) => IdTokenError::NonceMismatch,
        C::SignatureVerification(S::NoMatchingKey) => {
            IdTokenError::UnknownKey { kid: key_id(token) }
        }
        C::SignatureVerification(S::DisallowedAlg(msg) | S::UnsupportedAlg(msg)) => {
            IdTokenError::DisallowedAlgorithm(msg)
        }
        C::SignatureVerification(S::NoSignature) => {
            IdTokenError::DisallowedAlgorithm("the token is not signed".into())
        }
        C::SignatureVerification(S::CryptoError(_)) => IdTokenError::BadSignature,
        C::SignatureVerification(other) => IdTokenError::Unacceptable(other.to_string()),
        other => IdTokenError::Unacceptable(other.to_string()),
    }
}

/// The longest JOSE header accepted, base64url: real ones are a few hundred bytes, a few KiB
/// with a certificate chain (`x5c`).
const MAX_HEADER_LEN: usize = 8 * 1024;

/// The `kid` of a token's header, read only to rate-limit key refetches.
fn key_id(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Header {
        kid: Option<String>,
    }
    let header = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()?;
    serde_json::from_slice::<Header>(&bytes).ok()?.kid
}

fn verified(claims: Claims) -> VerifiedIdToken {
    let subject = claims.subject().to_string();
    let issuer = claims.issuer().to_string();
    let mut all = match serde_json::to_value(&claims) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for name in VALIDATION_ONLY_CLAIMS {
        all.remove(*name);
    }
    let session_id = all.get("sid").and_then(Value::as_str).map(str::to_string);
    VerifiedIdToken {
        subject,
        issuer,
        session_id,
        claims: all,
    }
}

/// Parser messages can quote input; keep them short so a hostile token cannot flood the log.
fn short(error: &impl std::fmt::Display) -> String {
    let text = error.to_string();
    match text.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}
