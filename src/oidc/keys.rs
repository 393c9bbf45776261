//! The IdP's signing keys as parsed from its key set (JWKS), with RSA keys prepared for `ring`.

use base64::Engine;
use openidconnect::core::{
    CoreJsonWebKey, CoreJsonWebKeyType, CoreJsonWebKeyUse, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyId, JsonWebKeyUse, SignatureVerificationError,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The IdP's key set, with RSA keys prepared for `ring`.
pub type KeySet = openidconnect::JsonWebKeySet<FastKey>;

/// A JWK whose RSA signatures are checked by `ring` (already linked for TLS), about ten times
/// faster than the pure-Rust `rsa` crate behind `CoreJsonWebKey`; every other key type and
/// every refusal goes through `CoreJsonWebKey` unchanged.
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct FastKey {
    inner: CoreJsonWebKey,
    #[serde(skip)]
    rsa: Option<std::sync::Arc<(Vec<u8>, Vec<u8>)>>,
}

impl<'de> Deserialize<'de> for FastKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let inner: CoreJsonWebKey =
            serde_json::from_value(value.clone()).map_err(serde::de::Error::custom)?;
        let part = |name: &str| {
            value.get(name).and_then(Value::as_str).and_then(|b64| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(b64)
                    .ok()
            })
        };
        let rsa = match (
            value.get("kty").and_then(Value::as_str),
            part("n"),
            part("e"),
        ) {
            // Some IdPs pad `n` with a zero byte; ring wants minimal big-endian integers.
            (Some("RSA"), Some(n), Some(e)) => {
                let n = strip_leading_zeros(n);
                let e = strip_leading_zeros(e);
                (n.len() >= 256).then(|| std::sync::Arc::new((n, e)))
            }
            _ => None,
        };
        Ok(Self { inner, rsa })
    }
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

impl JsonWebKey for FastKey {
    type KeyUse = CoreJsonWebKeyUse;
    type SigningAlgorithm = CoreJwsSigningAlgorithm;

    fn key_id(&self) -> Option<&JsonWebKeyId> {
        self.inner.key_id()
    }
    fn key_type(&self) -> &CoreJsonWebKeyType {
        self.inner.key_type()
    }
    fn key_use(&self) -> Option<&CoreJsonWebKeyUse> {
        self.inner.key_use()
    }
    fn signing_alg(&self) -> JsonWebKeyAlgorithm<&CoreJwsSigningAlgorithm> {
        self.inner.signing_alg()
    }
    fn new_symmetric(key: Vec<u8>) -> Self {
        Self {
            inner: CoreJsonWebKey::new_symmetric(key),
            rsa: None,
        }
    }
    fn verify_signature(
        &self,
        alg: &CoreJwsSigningAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureVerificationError> {
        use ring::signature as rs;
        use CoreJwsSigningAlgorithm as A;
        let params: Option<&'static rs::RsaParameters> = match alg {
            A::RsaSsaPkcs1V15Sha256 => Some(&rs::RSA_PKCS1_2048_8192_SHA256),
            A::RsaSsaPkcs1V15Sha384 => Some(&rs::RSA_PKCS1_2048_8192_SHA384),
            A::RsaSsaPkcs1V15Sha512 => Some(&rs::RSA_PKCS1_2048_8192_SHA512),
            A::RsaSsaPssSha256 => Some(&rs::RSA_PSS_2048_8192_SHA256),
            A::RsaSsaPssSha384 => Some(&rs::RSA_PSS_2048_8192_SHA384),
            A::RsaSsaPssSha512 => Some(&rs::RSA_PSS_2048_8192_SHA512),
            _ => None,
        };
        let usable = self.inner.key_use().is_none_or(|u| u.allows_signature())
            && match self.inner.signing_alg() {
                JsonWebKeyAlgorithm::Unspecified => true,
                JsonWebKeyAlgorithm::Algorithm(a) => a == alg,
                JsonWebKeyAlgorithm::Unsupported => false,
            };
        match (params, &self.rsa) {
            (Some(params), Some(parts)) if usable => rs::RsaPublicKeyComponents {
                n: &parts.0,
                e: &parts.1,
            }
            .verify(params, message, signature)
            .map_err(|_| SignatureVerificationError::CryptoError("bad signature".into())),
            _ => self.inner.verify_signature(alg, message, signature),
        }
    }
    fn hash_bytes(&self, bytes: &[u8], alg: &CoreJwsSigningAlgorithm) -> Result<Vec<u8>, String> {
        self.inner.hash_bytes(bytes, alg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_moduli_padded_with_a_zero_byte_are_prepared_for_ring() {
        let mut n = vec![0u8];
        n.extend([0xab; 256]);
        let jwk = serde_json::json!({
            "kty": "RSA", "kid": "k",
            "n": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&n),
            "e": "AQAB",
        });
        let key: FastKey = serde_json::from_value(jwk).unwrap();
        let (n, e) = key.rsa.as_deref().unwrap();
        assert_eq!((n.len(), n[0]), (256, 0xab));
        assert_eq!(e, &vec![1, 0, 1]);
    }

    #[test]
    fn rsa_keys_under_2048_bits_are_left_to_the_rsa_crate() {
        let jwk = serde_json::json!({
            "kty": "RSA", "kid": "k",
            "n": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xab; 128]),
            "e": "AQAB",
        });
        let key: FastKey = serde_json::from_value(jwk).unwrap();
        assert!(key.rsa.is_none());
    }
}
