//! The tests' side of DPoP proofs and client assertions: an ES256 key (P-256, with `p256`),
//! its JWKs and thumbprint, and JWTs signed with it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use rand::RngCore;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// An ES256 key pair.
pub struct EcKey {
    key: SigningKey,
    pub kid: String,
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    b64(bytes)
}

impl EcKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self {
            key: SigningKey::from_slice(&bytes).expect("a P-256 scalar"),
            kid: random_id(),
        }
    }

    fn coordinates(&self) -> (String, String) {
        let point = self.key.verifying_key().to_encoded_point(false);
        (b64(point.x().unwrap()), b64(point.y().unwrap()))
    }

    /// The public JWK, with `kid` and `use`.
    pub fn public_jwk(&self) -> Value {
        let (x, y) = self.coordinates();
        json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": self.kid, "use": "sig", "alg": "ES256"})
    }

    /// The public JWK without `kid` (as a DPoP proof carries it).
    pub fn bare_jwk(&self) -> Value {
        let (x, y) = self.coordinates();
        json!({"kty": "EC", "crv": "P-256", "x": x, "y": y})
    }

    /// The JWK with its private scalar `d` (which must never be accepted in a proof).
    pub fn private_jwk(&self) -> Value {
        let mut jwk = self.bare_jwk();
        jwk["d"] = b64(self.key.to_bytes()).into();
        jwk
    }

    /// `{"keys": [public JWK]}`.
    pub fn jwks(&self) -> Value {
        json!({"keys": [self.public_jwk()]})
    }

    /// The RFC 7638 thumbprint (DPoP's `jkt`).
    pub fn thumbprint(&self) -> String {
        let (x, y) = self.coordinates();
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        b64(Sha256::digest(canonical.as_bytes()))
    }

    /// A compact JWS of `claims` under `header`, signed ES256 with this key.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let signature: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", b64(signature.to_bytes()))
    }

    /// The header and claims of a good DPoP proof for `htm` `htu`.
    pub fn proof_parts(&self, htm: &str, htu: &str) -> (Value, Value) {
        let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.bare_jwk()});
        let claims = json!({"jti": random_id(), "htm": htm, "htu": htu, "iat": now()});
        (header, claims)
    }

    /// A good DPoP proof for `htm` `htu`.
    pub fn proof(&self, htm: &str, htu: &str) -> String {
        let (header, claims) = self.proof_parts(htm, htu);
        self.sign(&header, &claims)
    }

    /// A good DPoP proof for a resource, bound to `access_token` (`ath`), with `nonce`.
    pub fn resource_proof(&self, htu: &str, access_token: &str, nonce: Option<&str>) -> String {
        let (header, mut claims) = self.proof_parts("GET", htu);
        claims["ath"] = b64(Sha256::digest(access_token.as_bytes())).into();
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        self.sign(&header, &claims)
    }

    /// The header and claims of a good client assertion of `client_id` for `aud`.
    pub fn assertion_parts(&self, client_id: &str, aud: &str) -> (Value, Value) {
        let header = json!({"alg": "ES256", "kid": self.kid, "typ": "JWT"});
        let claims = json!({
            "iss": client_id,
            "sub": client_id,
            "aud": aud,
            "jti": random_id(),
            "iat": now(),
            "exp": now() + 60,
        });
        (header, claims)
    }

    /// A good client assertion of `client_id` for `aud`.
    pub fn assertion(&self, client_id: &str, aud: &str) -> String {
        let (header, claims) = self.assertion_parts(client_id, aud);
        self.sign(&header, &claims)
    }
}

/// A JWS with an arbitrary header and no (or a made-up) signature: `alg=none`, `HS256`.
pub fn unsigned(header: &Value, claims: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64(header.to_string()),
        b64(claims.to_string())
    )
}

/// `jws` with one character of its signature changed (a valid but wrong signature).
pub fn tamper(jws: &str) -> String {
    let mut chars: Vec<char> = jws.chars().collect();
    let at = chars.len() - 20;
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}
