//! DPoP (RFC 9449): each session's tokens are bound to a P-256 key of its own, kept (sealed)
//! with the tokens, and every request that uses them carries a fresh proof signed with it:
//! `htm`, `htu` (without query and fragment), `iat`, a unique `jti`, `ath` (the access
//! token's hash) at resources, and the server's latest `nonce` when it asked for one.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::header::HeaderMap;
use serde_json::json;
use url::Url;

use crate::clock;
use crate::crypto::random_token;
use crate::jose::{sha256_b64, Algorithm, KeyError, SigningKey};

/// A session's DPoP key.
#[derive(Debug)]
pub struct DpopKey {
    key: SigningKey,
    pkcs8: Vec<u8>,
}

impl DpopKey {
    /// A fresh key, for a new login.
    pub fn generate() -> Result<Self, KeyError> {
        let (key, pkcs8) = SigningKey::generate_es256()?;
        Ok(Self { key, pkcs8 })
    }

    /// The key as kept with the tokens (base64url of its PKCS#8 form; sealed with them).
    pub fn to_stored(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.pkcs8)
    }

    /// The key kept with the tokens; `None` when it does not load.
    pub fn from_stored(text: &str) -> Option<Self> {
        let pkcs8 = URL_SAFE_NO_PAD.decode(text).ok()?;
        let key = SigningKey::from_es256_pkcs8(&pkcs8).ok()?;
        Some(Self { key, pkcs8 })
    }

    /// The JWK thumbprint the IdP binds the tokens to (`cnf.jkt`); the tests compare it.
    #[cfg(feature = "testing")]
    pub fn thumbprint(&self) -> &str {
        self.key.thumbprint()
    }

    /// A proof for `method url`; with `access_token` (at a resource) its hash as `ath`.
    pub fn proof(
        &self,
        method: &str,
        url: &Url,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, KeyError> {
        let header = json!({ "typ": "dpop+jwt", "jwk": self.key.public_jwk() });
        let mut claims = json!({
            "jti": random_token(),
            "htm": method,
            "htu": htu(url),
            "iat": clock::now(),
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(sha256_b64(token));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        self.key.sign(Algorithm::Es256, header, &claims)
    }
}

/// `htu`: the URL without query and fragment (RFC 9449 §4.2).
pub fn htu(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// Servers remembered at most; beyond, the map starts over (nonces are cheap to learn again).
const MAX_SERVERS: usize = 1024;
/// The longest nonce accepted from a server.
const MAX_NONCE_LEN: usize = 512;

/// The latest `DPoP-Nonce` of each server (by origin), reused in the next proof to it.
#[derive(Debug, Default)]
pub struct DpopNonces(Mutex<HashMap<String, String>>);

impl DpopNonces {
    /// The latest nonce `url`'s server gave, if any.
    pub fn for_url(&self, url: &Url) -> Option<String> {
        let nonces = self.0.lock().unwrap_or_else(|p| p.into_inner());
        nonces.get(&url.origin().ascii_serialization()).cloned()
    }

    /// Remembers the `DPoP-Nonce` of an answer from `url`'s server; returns whether there was one.
    pub fn remember(&self, url: &Url, headers: &HeaderMap) -> bool {
        let Some(nonce) = headers
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
            .filter(|n| !n.is_empty() && n.len() <= MAX_NONCE_LEN)
        else {
            return false;
        };
        let mut nonces = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if nonces.len() >= MAX_SERVERS {
            nonces.clear();
        }
        nonces.insert(url.origin().ascii_serialization(), nonce.to_string());
        true
    }
}

/// Whether a resource's answer asks for a (new) nonce: 401 with a `DPoP` challenge whose
/// error is `use_dpop_nonce` (RFC 9449 §9).
pub fn resource_wants_nonce(status: u16, headers: &HeaderMap) -> bool {
    status == 401
        && headers
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|challenge| {
                challenge
                    .trim_start()
                    .get(..5)
                    .is_some_and(|scheme| scheme.eq_ignore_ascii_case("dpop "))
                    && challenge.contains("use_dpop_nonce")
            })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn claims_of(jws: &str) -> (Value, Value) {
        let mut parts = jws.split('.');
        let decode = |p: &str| -> Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
        };
        (decode(parts.next().unwrap()), decode(parts.next().unwrap()))
    }

    #[test]
    fn a_proof_has_the_rfc_9449_header_and_claims() {
        let key = DpopKey::generate().unwrap();
        let url = Url::parse("https://api.example/v1/items?page=2#top").unwrap();
        let proof = key
            .proof("GET", &url, Some("token-1"), Some("n-1"))
            .unwrap();
        let (header, claims) = claims_of(&proof);
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["jwk"]["kty"], "EC");
        assert!(header["jwk"].get("d").is_none(), "no private member");
        assert_eq!(claims["htm"], "GET");
        assert_eq!(claims["htu"], "https://api.example/v1/items");
        assert_eq!(claims["ath"], sha256_b64("token-1"));
        assert_eq!(claims["nonce"], "n-1");
        assert!((claims["iat"].as_i64().unwrap() - clock::now()).abs() <= 1);
        let again = key.proof("GET", &url, None, None).unwrap();
        let (_, second) = claims_of(&again);
        assert_ne!(claims["jti"], second["jti"], "a fresh jti each time");
        assert!(second.get("ath").is_none() && second.get("nonce").is_none());
    }

    #[test]
    fn a_stored_key_is_the_same_key() {
        let key = DpopKey::generate().unwrap();
        let back = DpopKey::from_stored(&key.to_stored()).unwrap();
        assert_eq!(key.thumbprint(), back.thumbprint());
        assert!(DpopKey::from_stored("not a key").is_none());
    }

    #[test]
    fn nonces_are_kept_per_origin() {
        let nonces = DpopNonces::default();
        let a = Url::parse("https://a.example/token").unwrap();
        let mut headers = HeaderMap::new();
        assert!(!nonces.remember(&a, &headers));
        headers.insert("dpop-nonce", "abc".parse().unwrap());
        assert!(nonces.remember(&a, &headers));
        let same_origin = Url::parse("https://a.example/userinfo").unwrap();
        assert_eq!(nonces.for_url(&same_origin).as_deref(), Some("abc"));
        assert_eq!(
            nonces.for_url(&Url::parse("https://b.example/").unwrap()),
            None
        );
    }

    #[test]
    fn only_a_dpop_use_dpop_nonce_401_asks_for_a_nonce() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "www-authenticate",
            r#"DPoP error="use_dpop_nonce", error_description="nonce""#
                .parse()
                .unwrap(),
        );
        assert!(resource_wants_nonce(401, &headers));
        assert!(!resource_wants_nonce(400, &headers));
        let mut bearer = HeaderMap::new();
        bearer.insert(
            "www-authenticate",
            r#"Bearer error="invalid_token""#.parse().unwrap(),
        );
        assert!(!resource_wants_nonce(401, &bearer));
    }
}
