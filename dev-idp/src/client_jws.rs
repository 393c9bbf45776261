//! The little JOSE the development IdP reads from clients: compact JWS (RFC 7515) signed with
//! ES256, PS256 or RS256 under a public JWK (RFC 7517), and JWK thumbprints (RFC 7638). The
//! signatures are checked with `ring`. Pure: no Rocket.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The signing algorithms accepted in DPoP proofs and client assertions, as advertised.
pub const ALGORITHMS: &[&str] = &["ES256", "PS256", "RS256"];

/// Members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a JWS or a key was not accepted; the text says what to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct JoseError(pub String);

fn fail<T>(why: impl Into<String>) -> Result<T, JoseError> {
    Err(JoseError(why.into()))
}

/// A compact JWS, split and decoded, its signature not yet checked.
#[derive(Debug)]
pub struct Jws {
    /// The protected header.
    pub header: Map<String, Value>,
    /// The payload, as JSON claims.
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

impl Jws {
    /// Splits `header.payload.signature` and decodes the header and the claims (JSON objects).
    pub fn parse(compact: &str) -> Result<Self, JoseError> {
        let parts: Vec<&str> = compact.trim().split('.').collect();
        let [header, payload, signature] = parts.as_slice() else {
            return fail("It is not a compact JWS (three base64url parts separated by dots).");
        };
        let object = |part: &str, what: &str| -> Result<Map<String, Value>, JoseError> {
            let bytes = URL_SAFE_NO_PAD
                .decode(part)
                .or_else(|_| fail(format!("Its {what} is not base64url.")))?;
            match serde_json::from_slice(&bytes) {
                Ok(Value::Object(map)) => Ok(map),
                _ => fail(format!("Its {what} is not a JSON object.")),
            }
        };
        Ok(Self {
            header: object(header, "header")?,
            claims: object(payload, "payload")?,
            signing_input: format!("{header}.{payload}"),
            signature: URL_SAFE_NO_PAD
                .decode(signature)
                .or_else(|_| fail("Its signature is not base64url."))?,
        })
    }

    /// A string member of the header.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    /// A string claim.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A numeric claim (seconds since the epoch), fractions dropped.
    pub fn claim_seconds(&self, name: &str) -> Option<i64> {
        let value = self.claims.get(name)?;
        value.as_i64().or_else(|| value.as_f64().map(|f| f as i64))
    }

    /// `alg` from the header, if it is one of [`ALGORITHMS`].
    pub fn algorithm(&self) -> Result<&str, JoseError> {
        match self.header_str("alg") {
            Some(alg) if ALGORITHMS.contains(&alg) => Ok(alg),
            Some(alg) => fail(format!(
                "The algorithm `{alg}` is not accepted: use ES256, PS256 or RS256."
            )),
            None => fail("The header has no `alg`."),
        }
    }

    /// Checks the signature with `key` under the header's `alg`.
    pub fn verify(&self, key: &PublicJwk) -> Result<(), JoseError> {
        let alg = self.algorithm()?;
        let message = self.signing_input.as_bytes();
        let verified = match (alg, key) {
            ("ES256", PublicJwk::P256 { point, .. }) => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, &self.signature)
            }
            ("RS256" | "PS256", PublicJwk::Rsa { n, e, .. }) => {
                let params = if alg == "RS256" {
                    &signature::RSA_PKCS1_2048_8192_SHA256
                } else {
                    &signature::RSA_PSS_2048_8192_SHA256
                };
                RsaPublicKeyComponents { n, e }.verify(params, message, &self.signature)
            }
            _ => return fail(format!("The key does not fit the algorithm `{alg}`.")),
        };
        verified.or_else(|_| fail("The signature does not verify with the key."))
    }
}

/// A public key from a JWK: an EC P-256 point or an RSA modulus and exponent.
#[derive(Debug, Clone, PartialEq)]
pub enum PublicJwk {
    /// `kty=EC`, `crv=P-256`: the uncompressed point and the base64url coordinates.
    P256 {
        /// `0x04 || x || y`.
        point: Vec<u8>,
        /// `x` as given (base64url), for the thumbprint.
        x: String,
        /// `y` as given (base64url), for the thumbprint.
        y: String,
    },
    /// `kty=RSA`.
    Rsa {
        /// The modulus, big-endian, without leading zeros.
        n: Vec<u8>,
        /// The public exponent, big-endian.
        e: Vec<u8>,
        /// `n` as given (base64url), for the thumbprint.
        n_text: String,
        /// `e` as given (base64url), for the thumbprint.
        e_text: String,
    },
}

impl PublicJwk {
    /// Reads a public JWK; a key with private members (or a symmetric one) is refused.
    pub fn from_json(jwk: &Value) -> Result<Self, JoseError> {
        let Value::Object(jwk) = jwk else {
            return fail("The jwk is not a JSON object.");
        };
        if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
            return fail(format!(
                "The jwk has the private member `{member}`: only a public key may be sent."
            ));
        }
        let text = |name: &str| -> Result<String, JoseError> {
            match jwk.get(name).and_then(Value::as_str) {
                Some(value) => Ok(value.to_string()),
                None => fail(format!("The jwk has no `{name}`.")),
            }
        };
        let bytes = |name: &str| -> Result<Vec<u8>, JoseError> {
            URL_SAFE_NO_PAD
                .decode(text(name)?)
                .or_else(|_| fail(format!("The jwk's `{name}` is not base64url.")))
        };
        match jwk.get("kty").and_then(Value::as_str) {
            Some("EC") => {
                if jwk.get("crv").and_then(Value::as_str) != Some("P-256") {
                    return fail("Only the EC curve P-256 is supported.");
                }
                let (x, y) = (bytes("x")?, bytes("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return fail("The jwk's P-256 coordinates are not 32 bytes each.");
                }
                let mut point = vec![4u8];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Ok(Self::P256 {
                    point,
                    x: text("x")?,
                    y: text("y")?,
                })
            }
            Some("RSA") => {
                let mut n = bytes("n")?;
                let leading = n.iter().take_while(|b| **b == 0).count();
                n.drain(..leading);
                Ok(Self::Rsa {
                    n,
                    e: bytes("e")?,
                    n_text: text("n")?,
                    e_text: text("e")?,
                })
            }
            Some(other) => fail(format!(
                "The key type `{other}` is not supported: use EC (P-256) or RSA."
            )),
            None => fail("The jwk has no `kty`."),
        }
    }

    /// Whether this key can verify `alg`.
    pub fn fits(&self, alg: &str) -> bool {
        matches!(
            (self, alg),
            (Self::P256 { .. }, "ES256") | (Self::Rsa { .. }, "RS256" | "PS256")
        )
    }

    /// The JWK SHA-256 thumbprint (RFC 7638), base64url: DPoP's `jkt`.
    pub fn thumbprint(&self) -> String {
        let quoted = |s: &str| Value::String(s.to_string()).to_string();
        // The required members only, in lexicographic order, no whitespace (RFC 7638 §3.2).
        let canonical = match self {
            Self::P256 { x, y, .. } => format!(
                r#"{{"crv":"P-256","kty":"EC","x":{},"y":{}}}"#,
                quoted(x),
                quoted(y)
            ),
            Self::Rsa { n_text, e_text, .. } => format!(
                r#"{{"e":{},"kty":"RSA","n":{}}}"#,
                quoted(e_text),
                quoted(n_text)
            ),
        };
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// base64url(SHA-256(`text`)), as DPoP's `ath` (RFC 9449 §4.2).
pub fn sha256_b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7638_example_thumbprint() {
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let key = PublicJwk::from_json(&jwk).unwrap();
        assert_eq!(
            key.thumbprint(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn rsa_signatures_verify_with_rs256_and_ps256_and_not_across() {
        use openidconnect::core::CoreJwsSigningAlgorithm as Alg;
        let key = crate::signing::SigningKey::generate().unwrap();
        let jwk = serde_json::to_value(key.jwks()).unwrap()["keys"][0].clone();
        let public = PublicJwk::from_json(&jwk).unwrap();
        let b64 = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let signed = |alg: &Alg, name: &str| {
            let input = format!(
                "{}.{}",
                b64(serde_json::json!({"alg": name})),
                b64(serde_json::json!({}))
            );
            let signature = key.sign_raw(alg, input.as_bytes()).unwrap();
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
        };
        let rs256 = signed(&Alg::RsaSsaPkcs1V15Sha256, "RS256");
        let ps256 = signed(&Alg::RsaSsaPssSha256, "PS256");
        assert!(Jws::parse(&rs256).unwrap().verify(&public).is_ok());
        assert!(Jws::parse(&ps256).unwrap().verify(&public).is_ok());
        // A PKCS#1 v1.5 signature is not a PSS one, and the other way round.
        let with_alg = |jws: &str, alg: &str| {
            let (_, rest) = jws.split_once('.').unwrap();
            format!("{}.{rest}", b64(serde_json::json!({ "alg": alg })))
        };
        for (jws, alg) in [(&rs256, "PS256"), (&ps256, "RS256")] {
            let swapped = Jws::parse(&with_alg(jws, alg)).unwrap();
            assert!(swapped.verify(&public).is_err(), "{alg}");
        }
        let other = crate::signing::SigningKey::generate().unwrap();
        let jwk = serde_json::to_value(other.jwks()).unwrap()["keys"][0].clone();
        let other = PublicJwk::from_json(&jwk).unwrap();
        assert!(Jws::parse(&rs256).unwrap().verify(&other).is_err());
    }

    #[test]
    fn private_and_symmetric_keys_are_refused() {
        for member in ["d", "k"] {
            let mut jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "x": "", "y": ""});
            jwk[member] = "AAAA".into();
            assert!(PublicJwk::from_json(&jwk).is_err(), "{member}");
        }
    }

    #[test]
    fn malformed_jws_are_refused() {
        for text in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.e30.AA",
            "e30.!!.AA",
            "bnVsbA.e30.AA",
        ] {
            assert!(Jws::parse(text).is_err(), "{text}");
        }
    }
}
