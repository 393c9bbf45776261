//! The logout token as a compact JWS (RFC 7515 §7.1): three base64url parts, a header read
//! with the same algorithm rules as ID tokens, and a signature checked against the IdP's key
//! set. Keys come only from that key set: `jwk`, `jku`, `x5u` and `x5c` headers are ignored.

use base64::Engine;
use openidconnect::core::CoreJwsSigningAlgorithm;
use openidconnect::{JsonWebKey, JsonWebKeyAlgorithm, JsonWebKeyUse, JwsSigningAlgorithm};
use serde::de::{Deserialize, Deserializer, Error as _, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::error::LogoutTokenError as E;
use crate::oidc::keys::{FastKey, KeySet};

/// Far more than any logout token needs (a few hundred bytes, or a few KB with an RSA-4096
/// signature); a bigger one is refused before any decoding.
pub(super) const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Checks the form, header and signature of `token`; returns its verified claims.
pub(super) fn verify(
    token: &str,
    algorithms: &[CoreJwsSigningAlgorithm],
    keys: &KeySet,
) -> Result<Map<String, Value>, E> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(E::TooLarge);
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, payload_b64, signature_b64] = parts[..] else {
        // A JWE's compact form has five parts (RFC 7516 §7.1).
        return Err(if parts.len() == 5 {
            E::Encrypted
        } else {
            E::Malformed("not three dot-separated parts")
        });
    };
    let header = object(header_b64, Part::Header)?;
    let alg = header_rules(&header, algorithms)?;
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(E::Malformed("kid is not a string")),
    };
    let signature = decode(signature_b64).ok_or(E::Malformed("the signature is not base64url"))?;
    let key = signing_key(keys, kid, &alg)?;
    let input = &token[..header_b64.len() + 1 + payload_b64.len()];
    key.verify_signature(&alg, input.as_bytes(), &signature)
        .map_err(|_| E::BadSignature)?;
    // Only now is the payload trusted enough to be parsed.
    object(payload_b64, Part::Payload)
}

/// The header rules: not a JWE, `alg` one of the accepted ID token algorithms (so never `none`
/// nor an HMAC), no `crit` or `cty`, and `typ`, when present, that of a logout token.
fn header_rules(
    header: &Map<String, Value>,
    algorithms: &[CoreJwsSigningAlgorithm],
) -> Result<CoreJwsSigningAlgorithm, E> {
    if header.contains_key("enc") {
        return Err(E::Encrypted);
    }
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg,
        Some(_) => return Err(E::Malformed("alg is not a string")),
        None => return Err(E::Malformed("the header has no alg")),
    };
    let alg: CoreJwsSigningAlgorithm =
        serde_json::from_value(Value::String(alg.clone())).map_err(|_| E::DisallowedAlgorithm)?;
    if !algorithms.contains(&alg) || alg.uses_shared_secret() {
        return Err(E::DisallowedAlgorithm);
    }
    // RFC 7515 §4.1.11: extensions marked critical must be understood; we understand none.
    if header.contains_key("crit") {
        return Err(E::UnsupportedHeader("crit"));
    }
    // A content type means a nested token or a payload that is not the claims.
    if header.contains_key("cty") {
        return Err(E::UnsupportedHeader("cty"));
    }
    match header.get("typ") {
        None => {}
        Some(Value::String(typ)) if is_logout_type(typ) => {}
        Some(_) => return Err(E::WrongType),
    }
    Ok(alg)
}

/// Back-Channel Logout §2.4 recommends `logout+jwt`; plain `JWT` is what many IdPs send. Media
/// types are case-insensitive and may drop their `application/` prefix (RFC 7515 §4.1.9).
fn is_logout_type(typ: &str) -> bool {
    let typ = typ.to_ascii_lowercase();
    let typ = typ.strip_prefix("application/").unwrap_or(&typ);
    typ == "logout+jwt" || typ == "jwt"
}

/// The one key of the set that may have made this signature: the header's `kid` (when it names
/// one), a key type that fits the algorithm, a use that allows signing, and no other `alg`.
fn signing_key<'k>(
    keys: &'k KeySet,
    kid: Option<&str>,
    alg: &CoreJwsSigningAlgorithm,
) -> Result<&'k FastKey, E> {
    let mut candidates = keys.keys().iter().filter(|key| {
        let kid_matches = kid.is_none_or(|kid| key.key_id().map(|id| id.as_str()) == Some(kid));
        let use_allows = key.key_use().is_none_or(|u| u.allows_signature());
        let type_fits = alg.key_type().as_ref() == Some(key.key_type());
        let alg_fits = match key.signing_alg() {
            JsonWebKeyAlgorithm::Unspecified => true,
            JsonWebKeyAlgorithm::Algorithm(key_alg) => key_alg == alg,
            JsonWebKeyAlgorithm::Unsupported => false,
        };
        kid_matches && use_allows && type_fits && alg_fits
    });
    match (candidates.next(), candidates.next()) {
        (Some(key), None) => Ok(key),
        (Some(_), Some(_)) => Err(E::AmbiguousKey),
        (None, _) => Err(E::UnknownKey {
            kid: kid.map(str::to_string),
        }),
    }
}

/// Strict base64url without padding (RFC 7515 §2): padding, other alphabets and stray bits are
/// refused, so one token has one spelling.
fn decode(part: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()
}

/// A part that must be a JSON object, each member named once (RFC 7515 §4: a duplicate
/// header parameter must be refused, or two parsers could read two different tokens).
fn object(part: &str, which: Part) -> Result<Map<String, Value>, E> {
    let (not_base64, not_object) = match which {
        Part::Header => (
            "the header is not base64url",
            "the header is not a JSON object with unique members",
        ),
        Part::Payload => (
            "the payload is not base64url",
            "the payload is not a JSON object with unique members",
        ),
    };
    let bytes = decode(part).ok_or(E::Malformed(not_base64))?;
    serde_json::from_slice::<UniqueObject>(&bytes)
        .map(|object| object.0)
        .map_err(|_| E::Malformed(not_object))
}

#[derive(Clone, Copy)]
enum Part {
    Header,
    Payload,
}

/// A JSON object whose members are all named differently.
struct UniqueObject(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = UniqueObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueObject, A::Error> {
                let mut members = Map::new();
                while let Some((name, value)) = map.next_entry::<String, Value>()? {
                    if members.insert(name, value).is_some() {
                        return Err(A::Error::custom("duplicate member"));
                    }
                }
                Ok(UniqueObject(members))
            }
        }
        deserializer.deserialize_map(Members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logout_and_jwt_types_are_accepted_in_any_case_and_with_the_prefix() {
        for typ in [
            "logout+jwt",
            "Logout+JWT",
            "application/logout+jwt",
            "JWT",
            "jwt",
        ] {
            assert!(is_logout_type(typ), "{typ}");
        }
        for typ in ["at+jwt", "id_token+jwt", "secevent+jwt", "", "logout+jwt "] {
            assert!(!is_logout_type(typ), "{typ}");
        }
    }

    #[test]
    fn duplicate_members_are_refused() {
        assert!(serde_json::from_str::<UniqueObject>(r#"{"a":1,"b":2}"#).is_ok());
        assert!(serde_json::from_str::<UniqueObject>(r#"{"a":1,"a":2}"#).is_err());
        assert!(serde_json::from_str::<UniqueObject>("[1]").is_err());
    }

    #[test]
    fn padded_base64_is_refused() {
        assert!(decode("e30").is_some());
        assert!(decode("e30=").is_none());
        assert!(decode("e3+/").is_none());
    }
}
