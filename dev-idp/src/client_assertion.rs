//! `private_key_jwt` (RFC 7523 §2.2, OpenID Connect Core §9): a client authenticates with a
//! JWT it signed with one of its registered keys. The keys come inline or from the client's
//! `jwks_uri` (fetched with a short timeout, cached, fetched again once for an unknown `kid`);
//! each assertion's `jti` is accepted once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use openidconnect::reqwest;
use serde_json::Value;

use crate::client_jws::{Jws, PublicJwk};
use crate::clients::{Client, ClientKeys};
use crate::replay::SeenIds;

/// `client_assertion_type` of a JWT client assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How far ahead `exp` may be: an assertion is made for one request.
const MAX_LIFETIME: i64 = 300;
/// Clock skew allowed on `exp`, `iat` and `nbf`.
const SKEW: i64 = 60;
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
/// A fetched key set is used this long.
const CACHE_TTL: Duration = Duration::from_secs(300);
/// An unknown `kid` fetches the key set again, at most this often.
const REFETCH_INTERVAL: Duration = Duration::from_secs(1);

struct Cached {
    keys: Vec<Value>,
    fetched: Instant,
}

/// Verifies client assertions: the clients' fetched keys and the assertions already used.
pub struct ClientAssertions {
    http: reqwest::Client,
    cache: Mutex<HashMap<String, Cached>>,
    seen: SeenIds,
}

/// The unverified issuer of an assertion, to find the client it claims to be.
pub fn claimed_client(assertion: &str) -> Result<String, String> {
    let jws = Jws::parse(assertion).map_err(|e| format!("client_assertion: {e}"))?;
    jws.claim_str("iss")
        .map(str::to_string)
        .ok_or_else(|| "The client_assertion has no `iss`.".into())
}

impl ClientAssertions {
    /// A verifier with its own HTTP client for the key sets.
    pub fn new() -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            cache: Mutex::new(HashMap::new()),
            seen: SeenIds::default(),
        })
    }

    /// Checks `assertion` for `client`; `audiences`: the values `aud` may hold (the issuer and
    /// the endpoint's URL). The error says why, for the `invalid_client` description.
    pub async fn verify(
        &self,
        assertion: &str,
        client: &Client,
        audiences: &[&str],
    ) -> Result<(), String> {
        let Some(keys) = client.client_secret.keys() else {
            return Err("This client authenticates with its secret, not private_key_jwt.".into());
        };
        let jws = Jws::parse(assertion).map_err(|e| format!("client_assertion: {e}"))?;
        let alg = jws.algorithm().map_err(|e| e.to_string())?.to_string();
        let id = client.client_id.as_str();
        if jws.claim_str("iss") != Some(id) || jws.claim_str("sub") != Some(id) {
            return Err(
                "The client_assertion's `iss` and `sub` must both be the client_id.".into(),
            );
        }
        if !audience_matches(jws.claims.get("aud"), audiences) {
            return Err(format!(
                "The client_assertion's `aud` must be {}.",
                audiences.join(" or ")
            ));
        }
        let now = Utc::now().timestamp();
        let Some(exp) = jws.claim_seconds("exp") else {
            return Err("The client_assertion has no `exp`.".into());
        };
        if exp + SKEW < now {
            return Err("The client_assertion has expired.".into());
        }
        if exp > now + MAX_LIFETIME + SKEW {
            return Err(format!(
                "The client_assertion's `exp` is more than {MAX_LIFETIME} s ahead."
            ));
        }
        for claim in ["iat", "nbf"] {
            if jws.claim_seconds(claim).is_some_and(|t| t > now + SKEW) {
                return Err(format!(
                    "The client_assertion's `{claim}` is in the future."
                ));
            }
        }
        let kid = jws.header_str("kid");
        let mut candidates = self.keys(keys, kid, &alg, false).await;
        if candidates.is_empty() && keys.jwks_uri.is_some() {
            candidates = self.keys(keys, kid, &alg, true).await;
        }
        if candidates.is_empty() {
            return Err(
                "No registered key of this client fits the client_assertion's `kid` and \
                        `alg`."
                    .into(),
            );
        }
        if !candidates.iter().any(|key| jws.verify(key).is_ok()) {
            return Err("The client_assertion's signature does not verify.".into());
        }
        let Some(jti) = jws.claim_str("jti").filter(|j| !j.is_empty()) else {
            return Err("The client_assertion has no `jti`.".into());
        };
        let remember = Duration::from_secs(u64::try_from(exp - now + SKEW).unwrap_or(0));
        if !self.seen.first_use(id, jti, remember) {
            return Err("The client_assertion's `jti` was used before.".into());
        }
        Ok(())
    }

    /// The client's keys that fit `kid` (when given) and `alg`; `refetch`: fetch the
    /// `jwks_uri` again unless it was fetched moments ago.
    async fn keys(
        &self,
        keys: &ClientKeys,
        kid: Option<&str>,
        alg: &str,
        refetch: bool,
    ) -> Vec<PublicJwk> {
        let mut jwks: Vec<Value> = keys
            .jwks
            .as_ref()
            .and_then(|set| set.get("keys"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(uri) = &keys.jwks_uri {
            jwks.extend(self.remote(uri, refetch).await);
        }
        jwks.iter()
            .filter(|jwk| kid.is_none() || jwk.get("kid").and_then(Value::as_str) == kid)
            .filter(|jwk| {
                jwk.get("use")
                    .and_then(Value::as_str)
                    .is_none_or(|u| u == "sig")
            })
            .filter_map(|jwk| PublicJwk::from_json(jwk).ok())
            .filter(|key| key.fits(alg))
            .collect()
    }

    /// The keys at `uri`: cached, or fetched when not cached, stale, or `refetch` is asked
    /// and the last fetch is not too recent. A failed fetch keeps what was cached.
    async fn remote(&self, uri: &str, refetch: bool) -> Vec<Value> {
        {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(cached) = cache.get(uri) {
                let age = cached.fetched.elapsed();
                if age < CACHE_TTL && !(refetch && age >= REFETCH_INTERVAL) {
                    return cached.keys.clone();
                }
            }
        }
        match self.fetch(uri).await {
            Ok(keys) => {
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                cache.insert(
                    uri.to_string(),
                    Cached {
                        keys: keys.clone(),
                        fetched: Instant::now(),
                    },
                );
                keys
            }
            Err(error) => {
                tracing::warn!(%error, uri, "development IdP could not fetch a client's JWKS");
                let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                cache.get(uri).map(|c| c.keys.clone()).unwrap_or_default()
            }
        }
    }

    async fn fetch(&self, uri: &str) -> Result<Vec<Value>, String> {
        let response = self.http.get(uri).send().await.map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        let set: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        set.get("keys")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| "no `keys` array".into())
    }
}

/// `aud` is one of `audiences`, or an array holding one.
fn audience_matches(aud: Option<&Value>, audiences: &[&str]) -> bool {
    match aud {
        Some(Value::String(aud)) => audiences.contains(&aud.as_str()),
        Some(Value::Array(values)) => values
            .iter()
            .filter_map(Value::as_str)
            .any(|aud| audiences.contains(&aud)),
        _ => false,
    }
}
