//! Shared by the token targets: turning fuzz bytes into JWS-shaped strings, signing them with
//! the test keys (tests/support/keys), and the oracle that an accepted ID token must satisfy.
#![allow(dead_code)]

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use p256::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

const RSA_A_PEM: &str = include_str!("../../../tests/support/keys/rsa-a.pem");
const EC_A_PEM: &str = include_str!("../../../tests/support/keys/ec-a.pem");

pub const RSA_KID: &str = "key-a";
pub const EC_KID: &str = "key-ec";

/// What the token must be checked against.
pub struct Ctx<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: i64,
    pub skew: i64,
}

/// Placeholders the seeds use for values only known at run time, so the fuzzer can get past
/// `iss`, `aud`, `exp` and `nonce` without guessing the clock or a port number.
pub fn substitute(input: &[u8], ctx: &Ctx<'_>) -> Vec<u8> {
    if !input.contains(&b'$') {
        return input.to_vec();
    }
    let pairs: [(&[u8], String); 7] = [
        (b"$ISS", ctx.issuer.to_string()),
        (b"$AUD", ctx.client_id.to_string()),
        (b"$NONCE", ctx.nonce.to_string()),
        (b"$NOW", ctx.now.to_string()),
        (b"$EXP", (ctx.now + 300).to_string()),
        (b"$OLD", (ctx.now - 3600).to_string()),
        (b"$FUT", (ctx.now + 3600).to_string()),
    ];
    let mut out = Vec::with_capacity(input.len() + 32);
    let mut i = 0;
    'outer: while i < input.len() {
        if input[i] == b'$' {
            for (name, value) in &pairs {
                if input[i..].starts_with(name) {
                    out.extend_from_slice(value.as_bytes());
                    i += name.len();
                    continue 'outer;
                }
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

/// Each segment base64-encoded (URL-safe without padding, or the standard alphabet with
/// padding to probe lenient decoders) and joined with dots.
pub fn join_segments<'a>(segments: impl Iterator<Item = &'a [u8]>, standard: bool) -> String {
    segments
        .map(|s| {
            if standard {
                STANDARD.encode(s)
            } else {
                URL_SAFE_NO_PAD.encode(s)
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

pub struct Signer {
    rsa: rsa::RsaPrivateKey,
    ec: p256::ecdsa::SigningKey,
}

impl Signer {
    pub fn load() -> Self {
        Signer {
            rsa: rsa::RsaPrivateKey::from_pkcs8_pem(RSA_A_PEM).expect("rsa-a.pem"),
            ec: p256::ecdsa::SigningKey::from_pkcs8_pem(EC_A_PEM).expect("ec-a.pem"),
        }
    }

    /// The public keys as a JWKS document.
    pub fn jwks(&self) -> Value {
        let point = self.ec.verifying_key().to_encoded_point(false);
        json!({ "keys": [
            {
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": RSA_KID,
                "n": URL_SAFE_NO_PAD.encode(self.rsa.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(self.rsa.e().to_bytes_be()),
            },
            {
                "kty": "EC", "use": "sig", "alg": "ES256", "kid": EC_KID, "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(point.x().expect("x")),
                "y": URL_SAFE_NO_PAD.encode(point.y().expect("y")),
            },
        ]})
    }

    /// Signs the exact header and claim bytes. The key follows the header's `kid` (`key-a`:
    /// RSA, PKCS#1 v1.5 or PSS as `alg` says; anything else: the P-256 key), so a header whose
    /// `alg` does not fit the key yields a signature that must not verify. An empty header
    /// means `{"alg":"ES256","kid":"key-ec","typ":"JWT"}`.
    pub fn sign(&self, header: &[u8], claims: &[u8]) -> String {
        let default_header = format!(r#"{{"alg":"ES256","kid":"{EC_KID}","typ":"JWT"}}"#);
        let header = if header.is_empty() {
            default_header.as_bytes()
        } else {
            header
        };
        let parsed: Option<Value> = serde_json::from_slice(header).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .and_then(|h| h.get(name))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature: Vec<u8> = if field("kid").as_deref() == Some(RSA_KID) {
            use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer as _};
            if field("alg").is_some_and(|alg| alg.starts_with("PS")) {
                let key = rsa::pss::BlindedSigningKey::<Sha256>::new(self.rsa.clone());
                key.sign_with_rng(&mut rsa::rand_core::OsRng, input.as_bytes())
                    .to_vec()
            } else {
                let key = rsa::pkcs1v15::SigningKey::<Sha256>::new(self.rsa.clone());
                key.sign(input.as_bytes()).to_vec()
            }
        } else {
            use p256::ecdsa::signature::Signer as _;
            let signature: p256::ecdsa::Signature = self.ec.sign(input.as_bytes());
            signature.to_bytes().to_vec()
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

fn decode_lenient(segment: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .or_else(|_| URL_SAFE.decode(segment))
        .or_else(|_| STANDARD_NO_PAD.decode(segment))
        .or_else(|_| STANDARD.decode(segment))
        .ok()
}

/// Top-level member names of a JSON object in document order, duplicates included.
fn member_names(json: &[u8]) -> Option<Vec<String>> {
    struct Names(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Names {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Names;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Names, A::Error> {
                    let mut names = Vec::new();
                    while let Some((k, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                        names.push(k);
                    }
                    Ok(Names(names))
                }
            }
            d.deserialize_map(V)
        }
    }
    serde_json::from_slice::<Names>(json).ok().map(|n| n.0)
}

/// Left half of the hash that goes with `alg`, base64url (Core 3.1.3.6 / 3.3.2.11).
pub fn half_hash(alg: &str, value: &str) -> String {
    let digest: Vec<u8> = match alg {
        "RS256" | "PS256" | "ES256" => Sha256::digest(value.as_bytes()).to_vec(),
        "RS384" | "PS384" | "ES384" => Sha384::digest(value.as_bytes()).to_vec(),
        _ => Sha512::digest(value.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// What every accepted ID token must satisfy (Core 3.1.3.7 / 3.2.2.11), decided from the
/// token text alone. Returns the claims, or what was violated.
pub fn check_accepted(
    token: &str,
    ctx: &Ctx<'_>,
    allowed_algs: &[&str],
    access_token: Option<&str>,
    code: Option<&str>,
    require_code_hash: bool,
) -> Result<Value, String> {
    let segments: Vec<&str> = token.split('.').collect();
    if segments.len() != 3 {
        return Err(format!("accepted a token with {} segments", segments.len()));
    }
    let header_bytes = decode_lenient(segments[0]).ok_or("header is not base64")?;
    // Lossy: the validator accepts a header whose unknown members are not UTF-8 (it skips
    // them unread); `alg` and `kid` are read either way.
    let header: Value = serde_json::from_str(&String::from_utf8_lossy(&header_bytes))
        .map_err(|e| format!("header is not JSON: {e}"))?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or("accepted a token without alg")?;
    if !allowed_algs.contains(&alg) {
        return Err(format!("accepted alg {alg:?}"));
    }
    let payload = decode_lenient(segments[1]).ok_or("payload is not base64")?;
    let payload = String::from_utf8_lossy(&payload).into_owned().into_bytes();
    let claims: Value =
        serde_json::from_slice(&payload).map_err(|e| format!("payload is not JSON: {e}"))?;
    let names = member_names(&payload).ok_or("payload is not an object")?;
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != names.len() {
        // Which duplicate wins is the parser's business; the IdP signed both.
        return Ok(claims);
    }
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);
    let num_claim = |name: &str| claims.get(name).and_then(Value::as_f64);

    if str_claim("iss") != Some(ctx.issuer) {
        return Err(format!("accepted iss {:?}", claims.get("iss")));
    }
    let audiences: Vec<&Value> = match claims.get("aud") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one) => vec![one],
        None => vec![],
    };
    if audiences.is_empty() || audiences.iter().any(|a| a.as_str() != Some(ctx.client_id)) {
        return Err(format!("accepted aud {:?}", claims.get("aud")));
    }
    match claims.get("azp") {
        Some(azp) if azp.as_str() != Some(ctx.client_id) => {
            return Err(format!("accepted azp {azp:?}"))
        }
        None if audiences.len() > 1 => return Err("accepted several aud without azp".into()),
        _ => {}
    }
    let exp = num_claim("exp").ok_or("accepted a token without numeric exp")?;
    if exp <= (ctx.now - ctx.skew - 2) as f64 {
        return Err(format!(
            "accepted expired token: exp {exp}, now {}",
            ctx.now
        ));
    }
    let iat = num_claim("iat").ok_or("accepted a token without numeric iat")?;
    if iat > (ctx.now + ctx.skew + 2) as f64 {
        return Err(format!("accepted future token: iat {iat}, now {}", ctx.now));
    }
    if str_claim("nonce") != Some(ctx.nonce) {
        return Err(format!("accepted nonce {:?}", claims.get("nonce")));
    }
    if str_claim("sub").is_none() {
        return Err(format!("accepted sub {:?}", claims.get("sub")));
    }
    if let (Some(at), Some(at_hash)) = (access_token, claims.get("at_hash")) {
        if at_hash.as_str() != Some(half_hash(alg, at).as_str()) {
            return Err(format!("accepted at_hash {at_hash:?}"));
        }
    }
    if let Some(code) = code {
        match claims.get("c_hash") {
            Some(c_hash) if c_hash.as_str() != Some(half_hash(alg, code).as_str()) => {
                return Err(format!("accepted c_hash {c_hash:?}"))
            }
            None if require_code_hash => return Err("accepted a missing c_hash".into()),
            _ => {}
        }
    }
    Ok(claims)
}
