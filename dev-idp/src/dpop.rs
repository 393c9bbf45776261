//! DPoP (RFC 9449): checking a proof (§4.3) and, when configured, the server-provided nonces
//! (§8, §9). The token endpoint binds tokens to the proof key's thumbprint (`jkt`); resources
//! check the proof against the token's binding. Pure: no Rocket.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::client_jws::{sha256_b64, Jws, PublicJwk};
use crate::random::random_token;
use crate::replay::SeenIds;

/// The header a proof comes in.
pub const HEADER: &str = "DPoP";
/// The header a nonce goes out in.
pub const NONCE_HEADER: &str = "DPoP-Nonce";
/// The proof's `typ` (RFC 9449 §4.2).
const TYP: &str = "dpop+jwt";
/// How far `iat` may be from now, either way, unless configured otherwise.
pub const DEFAULT_SKEW: Duration = Duration::from_secs(60);
/// A nonce is replaced after this; the previous one stays good until the next rotation.
const NONCE_ROTATION: Duration = Duration::from_secs(120);

/// Why a proof was refused: `invalid_dpop_proof`, or `use_dpop_nonce` when only the nonce is
/// missing or stale (the client retries with the nonce it is given).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DpopError {
    /// `invalid_dpop_proof`.
    #[error("{0}")]
    Invalid(String),
    /// `use_dpop_nonce`.
    #[error("{0}")]
    UseNonce(String),
}

fn invalid<T>(why: impl Into<String>) -> Result<T, DpopError> {
    Err(DpopError::Invalid(why.into()))
}

struct Nonces {
    current: String,
    previous: Option<String>,
    rotated: Instant,
}

/// The proof checker: accepted clock skew, used `jti`s and, when required, the nonces.
pub struct Dpop {
    require_nonce: bool,
    skew: Duration,
    seen: SeenIds,
    nonces: Mutex<Nonces>,
}

/// What a proof is checked against: the request it came with.
pub struct ProofContext<'a> {
    /// The request's method (`htm`).
    pub method: &'a str,
    /// The endpoint's URL, without query and fragment (`htu`).
    pub url: &'a str,
    /// At a resource: the access token the proof must be bound to (`ath`).
    pub access_token: Option<&'a str>,
}

impl Dpop {
    /// A checker; `require_nonce`: proofs must carry the current server nonce.
    pub fn new(require_nonce: bool, skew: Duration) -> Self {
        Self {
            require_nonce,
            skew,
            seen: SeenIds::default(),
            nonces: Mutex::new(Nonces {
                current: random_token(),
                previous: None,
                rotated: Instant::now(),
            }),
        }
    }

    /// The nonce to send in `DPoP-Nonce`, when nonces are required (rotated when due).
    pub fn nonce(&self) -> Option<String> {
        if !self.require_nonce {
            return None;
        }
        let mut nonces = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        if nonces.rotated.elapsed() >= NONCE_ROTATION {
            let fresh = random_token();
            nonces.previous = Some(std::mem::replace(&mut nonces.current, fresh));
            nonces.rotated = Instant::now();
        }
        Some(nonces.current.clone())
    }

    fn nonce_is_current(&self, nonce: &str) -> bool {
        let nonces = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        nonce == nonces.current || nonces.previous.as_deref() == Some(nonce)
    }

    /// The one proof of a request: none, or the value of its single `DPoP` header.
    pub fn single<'a>(headers: &[&'a str]) -> Result<Option<&'a str>, DpopError> {
        match headers {
            [] => Ok(None),
            [one] => Ok(Some(one)),
            _ => invalid("More than one DPoP header: send exactly one proof."),
        }
    }

    /// Checks `proof` (RFC 9449 §4.3) for `context`; the key's thumbprint (`jkt`) when good.
    pub fn check(&self, proof: &str, context: &ProofContext<'_>) -> Result<String, DpopError> {
        let jws = Jws::parse(proof).map_err(|e| DpopError::Invalid(e.0))?;
        if jws.header_str("typ") != Some(TYP) {
            return invalid(format!("The proof's `typ` must be `{TYP}`."));
        }
        jws.algorithm().map_err(|e| DpopError::Invalid(e.0))?;
        let Some(jwk) = jws.header.get("jwk") else {
            return invalid("The proof's header has no `jwk`.");
        };
        let key = PublicJwk::from_json(jwk).map_err(|e| DpopError::Invalid(e.0))?;
        jws.verify(&key).map_err(|e| DpopError::Invalid(e.0))?;
        if jws.claim_str("htm") != Some(context.method) {
            return invalid(format!("The proof's `htm` must be `{}`.", context.method));
        }
        if !same_url(jws.claim_str("htu"), context.url) {
            return invalid(format!("The proof's `htu` must be `{}`.", context.url));
        }
        let Some(iat) = jws.claim_seconds("iat") else {
            return invalid("The proof has no `iat`.");
        };
        let skew = i64::try_from(self.skew.as_secs()).unwrap_or(i64::MAX);
        if (Utc::now().timestamp() - iat).abs() > skew {
            return invalid("The proof's `iat` is too far from the server's time.");
        }
        let Some(jti) = jws.claim_str("jti").filter(|j| !j.is_empty()) else {
            return invalid("The proof has no `jti`.");
        };
        if let Some(token) = context.access_token {
            if jws.claim_str("ath") != Some(sha256_b64(token).as_str()) {
                return invalid("The proof's `ath` is not the hash of the access token.");
            }
        }
        if self.require_nonce
            && !jws
                .claim_str("nonce")
                .is_some_and(|n| self.nonce_is_current(n))
        {
            return Err(DpopError::UseNonce(
                "A DPoP nonce is required: make a new proof with the one in DPoP-Nonce.".into(),
            ));
        }
        // Remembered as long as its `iat` could still be accepted.
        if !self.seen.first_use(context.url, jti, self.skew * 2) {
            return invalid("The proof's `jti` was used before: make a new proof per request.");
        }
        Ok(key.thumbprint())
    }
}

/// `htu` compared to the endpoint URL, both without query and fragment (RFC 9449 §4.3 item 9),
/// after URL normalisation (scheme and host case, default port).
fn same_url(htu: Option<&str>, expected: &str) -> bool {
    let strip = |text: &str| {
        url::Url::parse(text).ok().map(|mut url| {
            url.set_query(None);
            url.set_fragment(None);
            url
        })
    };
    match (htu.and_then(strip), strip(expected)) {
        (Some(htu), Some(expected)) => htu == expected,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_ignores_query_fragment_and_normal_forms() {
        let url = "http://127.0.0.1:4000/token";
        assert!(same_url(Some("http://127.0.0.1:4000/token?x=1#y"), url));
        assert!(same_url(Some("HTTP://127.0.0.1:4000/token"), url));
        assert!(!same_url(Some("http://127.0.0.1:4000/userinfo"), url));
        assert!(!same_url(Some("not a url"), url));
        assert!(!same_url(None, url));
    }

    #[test]
    fn nonces_rotate_and_the_previous_one_stays_good() {
        let dpop = Dpop::new(true, DEFAULT_SKEW);
        let first = dpop.nonce().unwrap();
        {
            let mut nonces = dpop.nonces.lock().unwrap();
            nonces.rotated = Instant::now() - NONCE_ROTATION;
        }
        let second = dpop.nonce().unwrap();
        assert_ne!(first, second);
        assert!(dpop.nonce_is_current(&first));
        assert!(dpop.nonce_is_current(&second));
        assert!(!dpop.nonce_is_current("other"));
        assert_eq!(Dpop::new(false, DEFAULT_SKEW).nonce(), None);
    }
}
