//! How this app proves who it is at the IdP's token, revocation and PAR endpoints:
//! `client_secret_basic` (RFC 6749 §2.3.1), `client_secret_post`, or `private_key_jwt` (RFC
//! 7523 §2.2, OpenID Connect Core §9: a short-lived JWT signed with the app's key, whose public
//! half the app publishes at `/.well-known/jwks.json`).

use std::sync::Arc;

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use super::discovery::ProviderMetadata;
use crate::clock;
use crate::config::ClientAuthMethod;
use crate::crypto::random_token;
use crate::jose::{Algorithm, SigningKey};

/// A client assertion is valid this long (FAPI 2.0 and most IdPs want it short).
const ASSERTION_LIFETIME_SECS: i64 = 60;
/// The assertion type of RFC 7523 §2.2.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The client's credentials, as configured.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    /// The client id.
    pub client_id: String,
    /// The client secret, for the `client_secret_*` methods.
    pub secret: Option<SecretString>,
    /// `CLIENT_AUTH`; `None`: chosen from discovery.
    pub method: Option<ClientAuthMethod>,
    /// The private key for `private_key_jwt`.
    pub key: Option<Arc<SigningKey>>,
}

/// An authenticated request's parts: form fields to add and an `Authorization` header.
#[derive(Debug, Default, PartialEq)]
pub struct Authentication {
    /// Added to the form body.
    pub fields: Vec<(&'static str, String)>,
    /// The `Authorization` header value, for `client_secret_basic`.
    pub authorization: Option<String>,
}

impl ClientCredentials {
    /// The method in use: the configured one, else `private_key_jwt` with a key, else
    /// `client_secret_basic` unless the IdP supports only `client_secret_post`.
    pub fn method(&self, metadata: &ProviderMetadata) -> ClientAuthMethod {
        if let Some(method) = self.method {
            return method;
        }
        if self.key.is_some() {
            ClientAuthMethod::PrivateKeyJwt
        } else if metadata.prefers_client_secret_post() {
            ClientAuthMethod::ClientSecretPost
        } else {
            ClientAuthMethod::ClientSecretBasic
        }
    }

    /// What to add to a request to `metadata`'s IdP. A client without secret or key sends its
    /// id alone (a public client).
    pub fn authenticate(&self, metadata: &ProviderMetadata) -> Authentication {
        let id = || ("client_id", self.client_id.clone());
        match (self.method(metadata), &self.secret, &self.key) {
            (ClientAuthMethod::PrivateKeyJwt, _, Some(key)) => {
                match self.assertion(key, metadata) {
                    Some(assertion) => Authentication {
                        fields: vec![
                            id(),
                            ("client_assertion_type", JWT_BEARER.to_string()),
                            ("client_assertion", assertion),
                        ],
                        authorization: None,
                    },
                    None => Authentication {
                        fields: vec![id()],
                        authorization: None,
                    },
                }
            }
            (ClientAuthMethod::ClientSecretPost, Some(secret), _) => Authentication {
                fields: vec![id(), ("client_secret", secret.expose_secret().to_string())],
                authorization: None,
            },
            (ClientAuthMethod::ClientSecretBasic, Some(secret), _) => {
                let encode = |text: &str| {
                    url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>()
                };
                let credentials = format!(
                    "{}:{}",
                    encode(&self.client_id),
                    encode(secret.expose_secret())
                );
                let basic = base64::engine::general_purpose::STANDARD.encode(credentials);
                Authentication {
                    fields: Vec::new(),
                    authorization: Some(format!("Basic {basic}")),
                }
            }
            _ => Authentication {
                fields: vec![id()],
                authorization: None,
            },
        }
    }

    /// The client assertion: `iss` = `sub` = client id, `aud` = the issuer (FAPI 2.0; IdPs
    /// accept it at every endpoint), a unique `jti`, `exp` a minute ahead. `None` only if
    /// signing fails.
    fn assertion(&self, key: &SigningKey, metadata: &ProviderMetadata) -> Option<String> {
        let alg = assertion_algorithm(key, metadata);
        let now = clock::now();
        let claims = json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": metadata.issuer,
            "jti": random_token(),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let header = json!({ "typ": "JWT", "kid": key.thumbprint() });
        match key.sign(alg, header, &claims) {
            Ok(jwt) => Some(jwt),
            Err(error) => {
                tracing::error!(%error, "client assertion not signed");
                None
            }
        }
    }
}

/// The key's first algorithm the IdP lists; without a list RS256 for RSA (the one every IdP
/// takes) and ES256 for P-256.
fn assertion_algorithm(key: &SigningKey, metadata: &ProviderMetadata) -> Algorithm {
    let supported = metadata
        .token_endpoint_auth_signing_alg_values_supported
        .as_ref();
    let algorithms = key.algorithms();
    match supported {
        Some(list) => algorithms
            .iter()
            .copied()
            .find(|alg| list.iter().any(|s| s == alg.as_str()))
            .unwrap_or(algorithms[algorithms.len() - 1]),
        None => algorithms[algorithms.len() - 1],
    }
}

/// The app's public key set for `/.well-known/jwks.json`: its client key with `kid` (the
/// thumbprint), `use` and the algorithms it signs with.
pub fn public_jwks(key: &SigningKey) -> Value {
    let mut jwk = key.public_jwk();
    jwk["kid"] = json!(key.thumbprint());
    jwk["use"] = json!("sig");
    if let [only] = key.algorithms() {
        jwk["alg"] = json!(only.as_str());
    }
    json!({ "keys": [jwk] })
}

/// A form body with `extra` fields appended.
pub fn form_body(fields: &[(&str, &str)], extra: &[(&'static str, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields.iter().copied())
        .extend_pairs(extra.iter().map(|(n, v)| (*n, v.as_str())))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn metadata(extra: Value) -> ProviderMetadata {
        let mut doc = json!({
            "issuer": "https://idp.example",
            "authorization_endpoint": "https://idp.example/authorize",
            "jwks_uri": "https://idp.example/jwks",
        });
        for (k, v) in extra.as_object().unwrap() {
            doc[k] = v.clone();
        }
        serde_json::from_value(doc).unwrap()
    }

    fn rsa_key() -> Arc<SigningKey> {
        let pem = include_bytes!("../../tests/support/keys/rsa-a.pem");
        Arc::new(SigningKey::from_pem(pem).unwrap())
    }

    fn decode(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[test]
    fn the_method_is_the_configured_one_else_the_key_else_what_discovery_prefers() {
        let mut creds = ClientCredentials {
            client_id: "app".into(),
            secret: Some("s".into()),
            ..Default::default()
        };
        let post_only =
            metadata(json!({"token_endpoint_auth_methods_supported": ["client_secret_post"]}));
        assert_eq!(
            creds.method(&metadata(json!({}))),
            ClientAuthMethod::ClientSecretBasic
        );
        assert_eq!(creds.method(&post_only), ClientAuthMethod::ClientSecretPost);
        creds.key = Some(rsa_key());
        assert_eq!(creds.method(&post_only), ClientAuthMethod::PrivateKeyJwt);
        creds.method = Some(ClientAuthMethod::ClientSecretBasic);
        assert_eq!(
            creds.method(&post_only),
            ClientAuthMethod::ClientSecretBasic
        );
    }

    #[test]
    fn a_client_assertion_has_the_rfc_7523_claims_and_the_keys_kid() {
        let key = rsa_key();
        let creds = ClientCredentials {
            client_id: "app".into(),
            key: Some(key.clone()),
            ..Default::default()
        };
        let meta = metadata(
            json!({"token_endpoint_auth_signing_alg_values_supported": ["ES256", "PS256"]}),
        );
        let auth = creds.authenticate(&meta);
        assert_eq!(auth.authorization, None);
        let field = |name: &str| {
            auth.fields
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(field("client_id"), "app");
        assert_eq!(field("client_assertion_type"), JWT_BEARER);
        let assertion = field("client_assertion");
        let parts: Vec<&str> = assertion.split('.').collect();
        let (header, claims) = (decode(parts[0]), decode(parts[1]));
        assert_eq!(
            header["alg"], "PS256",
            "the key's preferred algorithm the IdP lists"
        );
        assert_eq!(header["kid"], key.thumbprint());
        assert_eq!(claims["iss"], "app");
        assert_eq!(claims["sub"], "app");
        assert_eq!(claims["aud"], "https://idp.example");
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert!(exp > iat && exp - iat <= 60);
        assert!(claims["jti"].as_str().unwrap().len() >= 32);
        let again = creds.authenticate(&meta);
        assert_ne!(again.fields, auth.fields, "a new jti each time");
        assert_eq!(
            assertion_algorithm(&key, &metadata(json!({}))),
            Algorithm::Rs256
        );
    }

    #[test]
    fn secrets_go_in_basic_or_in_the_body() {
        let creds = ClientCredentials {
            client_id: "a b".into(),
            secret: Some("s:1".into()),
            ..Default::default()
        };
        let basic = creds.authenticate(&metadata(json!({})));
        assert!(basic.fields.is_empty());
        let expected = base64::engine::general_purpose::STANDARD.encode("a+b:s%3A1");
        assert_eq!(basic.authorization, Some(format!("Basic {expected}")));
        let post = creds.authenticate(&metadata(
            json!({"token_endpoint_auth_methods_supported": ["client_secret_post"]}),
        ));
        assert_eq!(
            post.fields,
            vec![("client_id", "a b".into()), ("client_secret", "s:1".into())]
        );
    }

    #[test]
    fn the_published_jwks_has_the_public_key_with_its_kid_only() {
        let key = rsa_key();
        let jwks = public_jwks(&key);
        let jwk = &jwks["keys"][0];
        assert_eq!(jwk["kid"], key.thumbprint());
        assert_eq!(jwk["kty"], "RSA");
        assert!(jwk.get("d").is_none() && jwk.get("p").is_none());
    }
}
