//! The IdP's RSA signing key: RS256 signatures by `ring`, everything else (the public JWK, any
//! other algorithm) by `openidconnect`'s key. The pure-Rust `rsa` crate behind
//! `CoreRsaPrivateSigningKey` takes ~1.5 ms per signature in a release build, which made the
//! token endpoint the limit of a load test of an app (~600 code-flow logins/s on a core);
//! `ring` (blinded, constant-time) is several times faster.

use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{PrivateSigningKey, SigningError};
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};

pub struct RsaKey {
    core: CoreRsaPrivateSigningKey,
    ring: RsaKeyPair,
}

impl RsaKey {
    /// The same key twice: `pkcs1_der` for `ring`, `core` for the rest.
    pub fn new(core: CoreRsaPrivateSigningKey, pkcs1_der: &[u8]) -> Result<Self, String> {
        let ring = RsaKeyPair::from_der(pkcs1_der).map_err(|e| e.to_string())?;
        Ok(Self { core, ring })
    }
}

impl PrivateSigningKey for RsaKey {
    type VerificationKey = CoreJsonWebKey;

    fn sign(&self, alg: &CoreJwsSigningAlgorithm, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        if *alg != CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256 {
            return self.core.sign(alg, message);
        }
        let mut signature = vec![0; self.ring.public().modulus_len()];
        (self.ring)
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| SigningError::CryptoError)?;
        Ok(signature)
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        self.core.as_verification_key()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openidconnect::JsonWebKey;
    use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};

    #[test]
    fn rs256_signatures_verify_with_the_published_key_and_for_that_message_only() {
        let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
        let pem = private.to_pkcs1_pem(LineEnding::LF).unwrap();
        let core = CoreRsaPrivateSigningKey::from_pem(&pem, None).unwrap();
        let der = private.to_pkcs1_der().unwrap();
        let key = RsaKey::new(core, der.as_bytes()).unwrap();
        let rs256 = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
        let signature = key.sign(&rs256, b"header.payload").unwrap();
        let public = key.as_verification_key();
        assert!(public
            .verify_signature(&rs256, b"header.payload", &signature)
            .is_ok());
        assert!(public
            .verify_signature(&rs256, b"header.payloaD", &signature)
            .is_err());
        // Another algorithm is still the `rsa` crate's, with the same key.
        let ps256 = CoreJwsSigningAlgorithm::RsaSsaPssSha256;
        let signature = key.sign(&ps256, b"m").unwrap();
        assert!(public.verify_signature(&ps256, b"m", &signature).is_ok());
    }
}
