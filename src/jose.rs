//! The JWTs this app signs itself: client assertions (`private_key_jwt`, RFC 7523) and DPoP
//! proofs (RFC 9449). Keys are `ring` key pairs (RSA for RS256/PS256, P-256 for ES256), their
//! public halves published as JWKs with RFC 7638 thumbprints.
//!
//! Written on `ring` rather than a JWT crate: the app already verifies with `ring`, and what is
//! needed here is small (sign a compact JWS, describe a public key), while the JWT crates
//! would bring a second RSA and EC stack into the binary.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// A JWS algorithm this app signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PSS with SHA-256 (what FAPI 2.0 asks of RSA keys).
    Ps256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
}

impl Algorithm {
    /// The `alg` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
            Self::Es256 => "ES256",
        }
    }
}

/// Why a key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The file holds no private key in PEM, or one that does not parse.
    #[error("no usable private key in PEM form ({0})")]
    NotPem(String),
    /// The key is of a kind this app does not sign with.
    #[error("the key must be RSA (2048 bits or more) or EC P-256 in PKCS#8 ({0})")]
    Unsupported(String),
    /// Signing failed (it does not, short of a broken system random generator).
    #[error("signing failed")]
    Signing,
}

/// A private signing key.
pub struct SigningKey {
    pair: Pair,
    jwk: Map<String, Value>,
    thumbprint: String,
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl SigningKey {
    /// From a PEM file's text: RSA (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`) or P-256
    /// (PKCS#8 `PRIVATE KEY`, as `openssl genpkey -algorithm EC -pkeyopt
    /// ec_paramgen_curve:P-256` writes it).
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let der =
            PrivateKeyDer::from_pem_slice(pem).map_err(|e| KeyError::NotPem(e.to_string()))?;
        match der {
            PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der())
                .map(Pair::Rsa)
                .map_err(|e| KeyError::Unsupported(e.to_string())),
            PrivateKeyDer::Pkcs8(der) => {
                let bytes = der.secret_pkcs8_der();
                match RsaKeyPair::from_pkcs8(bytes) {
                    Ok(pair) => Ok(Pair::Rsa(pair)),
                    Err(_) => Self::ec_pair(bytes),
                }
            }
            PrivateKeyDer::Sec1(_) => Err(KeyError::Unsupported(
                "a SEC1 `EC PRIVATE KEY`: convert it with `openssl pkcs8 -topk8 -nocrypt`".into(),
            )),
            _ => Err(KeyError::Unsupported("an unknown key format".into())),
        }
        .map(Self::with_pair)
    }

    /// A fresh P-256 key and its PKCS#8 form (to keep it and load it again later).
    pub fn generate_es256() -> Result<(Self, Vec<u8>), KeyError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| KeyError::Signing)?;
        let key = Self::from_es256_pkcs8(pkcs8.as_ref())?;
        Ok((key, pkcs8.as_ref().to_vec()))
    }

    /// A P-256 key from its PKCS#8 form.
    pub fn from_es256_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        Self::ec_pair(pkcs8).map(Self::with_pair)
    }

    fn ec_pair(pkcs8: &[u8]) -> Result<Pair, KeyError> {
        EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .map(Pair::Ec)
        .map_err(|e| KeyError::Unsupported(e.to_string()))
    }

    fn with_pair(pair: Pair) -> Self {
        // RFC 7638: the required members only, in lexicographic order, no whitespace.
        let (jwk, canonical) = match &pair {
            Pair::Rsa(pair) => {
                let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
                let (n, e) = (b64(&public.n), b64(&public.e));
                let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
                (json!({"kty": "RSA", "n": n, "e": e}), canonical)
            }
            Pair::Ec(pair) => {
                // The uncompressed point: 0x04, then x and y of 32 bytes each.
                let point = pair.public_key().as_ref();
                let (x, y) = (b64(&point[1..33]), b64(&point[33..65]));
                let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
                (
                    json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
                    canonical,
                )
            }
        };
        let thumbprint = b64(&Sha256::digest(canonical.as_bytes()));
        let jwk = match jwk {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Self {
            pair,
            jwk,
            thumbprint,
        }
    }

    /// The algorithms this key can sign with, preferred first.
    pub fn algorithms(&self) -> &'static [Algorithm] {
        match self.pair {
            Pair::Rsa(_) => &[Algorithm::Ps256, Algorithm::Rs256],
            Pair::Ec(_) => &[Algorithm::Es256],
        }
    }

    /// The public key as a JWK (`kty` and its members only).
    pub fn public_jwk(&self) -> Value {
        Value::Object(self.jwk.clone())
    }

    /// The JWK SHA-256 thumbprint (RFC 7638), also used as `kid`.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// A compact JWS of `claims` with `header` (to which `alg` is added), signed with `alg`,
    /// which must be one of [`Self::algorithms`].
    pub fn sign(
        &self,
        alg: Algorithm,
        mut header: Value,
        claims: &Value,
    ) -> Result<String, KeyError> {
        header["alg"] = json!(alg.as_str());
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let rng = SystemRandom::new();
        let signature = match (&self.pair, alg) {
            (Pair::Rsa(pair), Algorithm::Rs256 | Algorithm::Ps256) => {
                let padding: &dyn signature::RsaEncoding = match alg {
                    Algorithm::Rs256 => &signature::RSA_PKCS1_SHA256,
                    _ => &signature::RSA_PSS_SHA256,
                };
                let mut out = vec![0u8; pair.public().modulus_len()];
                pair.sign(padding, &rng, input.as_bytes(), &mut out)
                    .map_err(|_| KeyError::Signing)?;
                out
            }
            (Pair::Ec(pair), Algorithm::Es256) => pair
                .sign(&rng, input.as_bytes())
                .map_err(|_| KeyError::Signing)?
                .as_ref()
                .to_vec(),
            _ => return Err(KeyError::Signing),
        };
        Ok(format!("{input}.{}", b64(&signature)))
    }
}

/// `base64url(SHA-256(text))`: DPoP's `ath` (RFC 9449 §4.2).
pub fn sha256_b64(text: &str) -> String {
    b64(&Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The integration tests' RSA key.
    const RSA_PEM: &[u8] = include_bytes!("../tests/support/keys/rsa-a.pem");

    fn parts(jws: &str) -> (Value, Value, Vec<u8>, String) {
        let mut it = jws.split('.');
        let (h, c, s) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
        let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).unwrap();
        (
            serde_json::from_slice(&decode(h)).unwrap(),
            serde_json::from_slice(&decode(c)).unwrap(),
            decode(s),
            format!("{h}.{c}"),
        )
    }

    #[test]
    fn an_es256_signature_verifies_with_the_published_jwk() {
        let (key, pkcs8) = SigningKey::generate_es256().unwrap();
        let again = SigningKey::from_es256_pkcs8(&pkcs8).unwrap();
        assert_eq!(
            key.thumbprint(),
            again.thumbprint(),
            "the same key after a round trip"
        );
        let jws = key
            .sign(
                Algorithm::Es256,
                json!({"typ": "dpop+jwt"}),
                &json!({"a": 1}),
            )
            .unwrap();
        let (header, claims, sig, input) = parts(&jws);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(claims["a"], 1);
        let jwk = key.public_jwk();
        let mut point = vec![4u8];
        point.extend(URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap());
        point.extend(URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap());
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
            .verify(input.as_bytes(), &sig)
            .expect("valid signature");
    }

    #[test]
    fn rsa_signatures_verify_and_the_thumbprint_follows_rfc_7638() {
        let key = SigningKey::from_pem(RSA_PEM).unwrap();
        assert_eq!(key.algorithms(), &[Algorithm::Ps256, Algorithm::Rs256]);
        let jwk = key.public_jwk();
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
        let canonical = format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            jwk["e"].as_str().unwrap(),
            jwk["n"].as_str().unwrap()
        );
        assert_eq!(key.thumbprint(), b64(&Sha256::digest(canonical.as_bytes())));
        for alg in [Algorithm::Rs256, Algorithm::Ps256] {
            let jws = key.sign(alg, json!({}), &json!({"b": 2})).unwrap();
            let (header, _, sig, input) = parts(&jws);
            assert_eq!(header["alg"], alg.as_str());
            let public = ring::rsa::PublicKeyComponents { n: &n, e: &e };
            let params = match alg {
                Algorithm::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                _ => &signature::RSA_PSS_2048_8192_SHA256,
            };
            public
                .verify(params, input.as_bytes(), &sig)
                .expect("valid signature");
        }
    }

    #[test]
    fn a_key_cannot_sign_with_another_familys_algorithm() {
        let (key, _) = SigningKey::generate_es256().unwrap();
        assert_eq!(
            key.sign(Algorithm::Rs256, json!({}), &json!({})),
            Err(KeyError::Signing)
        );
    }

    #[test]
    fn text_that_is_not_a_pem_key_is_refused_with_a_reason() {
        assert!(matches!(
            SigningKey::from_pem(b"hello"),
            Err(KeyError::NotPem(_))
        ));
        let sec1 = b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n";
        assert!(matches!(
            SigningKey::from_pem(sec1),
            Err(KeyError::Unsupported(_))
        ));
    }
}
