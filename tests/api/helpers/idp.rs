//! An in-process identity provider for tests: serves discovery and JWKS on a loopback port,
//! counts fetches, can be slowed down or taken down, and mints ID tokens with any rule broken.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::Signer;
use p256::pkcs8::DecodePrivateKey;
use rocket::http::Status;
use rocket::serde::json::{json, Value};
use rocket::{get, routes, State};
use rsa::traits::PublicKeyParts;
use sha2::Sha256;

use super::back_channel::BackChannel;

pub const CLIENT_ID: &str = "test-client";

/// A signing key of the test IdP, loaded from `tests/support/keys`.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum Key {
    Rsa {
        kid: String,
        key: rsa::RsaPrivateKey,
    },
    Ec {
        kid: String,
        key: p256::ecdsa::SigningKey,
    },
}

impl Key {
    pub fn rsa(kid: &str, file: &str) -> Self {
        let pem = std::fs::read_to_string(key_path(file)).expect("test key");
        Key::Rsa {
            kid: kid.into(),
            key: rsa::RsaPrivateKey::from_pkcs8_pem(&pem).expect("RSA PKCS#8 key"),
        }
    }

    pub fn ec(kid: &str, file: &str) -> Self {
        let pem = std::fs::read_to_string(key_path(file)).expect("test key");
        Key::Ec {
            kid: kid.into(),
            key: p256::ecdsa::SigningKey::from_pkcs8_pem(&pem).expect("P-256 PKCS#8 key"),
        }
    }

    pub fn kid(&self) -> &str {
        match self {
            Key::Rsa { kid, .. } | Key::Ec { kid, .. } => kid,
        }
    }

    pub fn alg(&self) -> &'static str {
        match self {
            Key::Rsa { .. } => "RS256",
            Key::Ec { .. } => "ES256",
        }
    }

    /// The public JWK as the IdP publishes it.
    pub fn jwk(&self) -> Value {
        match self {
            Key::Rsa { kid, key } => json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
                "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
            }),
            Key::Ec { kid, key } => {
                let point = key.verifying_key().to_encoded_point(false);
                json!({
                    "kty": "EC", "use": "sig", "alg": "ES256", "kid": kid, "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(point.x().expect("x")),
                    "y": URL_SAFE_NO_PAD.encode(point.y().expect("y")),
                })
            }
        }
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            Key::Rsa { key, .. } => {
                let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone());
                let signature: rsa::pkcs1v15::Signature = signer.sign(input);
                rsa::signature::SignatureEncoding::to_vec(&signature)
            }
            Key::Ec { key, .. } => {
                let signature: p256::ecdsa::Signature = key.sign(input);
                signature.to_bytes().to_vec()
            }
        }
    }
}

fn key_path(file: &str) -> String {
    format!("{}/tests/support/keys/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// What the test IdP serves; tests change it while the app runs.
pub struct IdpState {
    pub issuer: String,
    pub published: Mutex<Vec<Key>>,
    pub metadata_overrides: Mutex<Value>,
    pub jwks_fetches: AtomicUsize,
    pub discovery_fetches: AtomicUsize,
    pub available: AtomicBool,
    pub delay: Mutex<Duration>,
}

pub struct TestIdp {
    pub issuer: String,
    pub state: Arc<IdpState>,
    /// The key that signs tokens by default (published at start).
    pub key: Key,
    /// Token endpoint, revocation and UserInfo.
    pub back: Arc<BackChannel>,
    _shutdown: rocket::Shutdown,
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        self._shutdown.clone().notify();
    }
}

#[get("/.well-known/openid-configuration")]
async fn discovery(state: &State<Arc<IdpState>>) -> Result<Value, Status> {
    state.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    wait_and_check(state).await?;
    let mut doc = json!({
        "issuer": state.issuer,
        "authorization_endpoint": format!("{}/authorize", state.issuer),
        "token_endpoint": format!("{}/token", state.issuer),
        "jwks_uri": format!("{}/jwks", state.issuer),
        "end_session_endpoint": format!("{}/logout", state.issuer),
        "userinfo_endpoint": format!("{}/userinfo", state.issuer),
        "revocation_endpoint": format!("{}/revoke", state.issuer),
        "response_types_supported": ["id_token", "code"],
        "response_modes_supported": ["form_post", "query", "fragment"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    });
    let overrides = state.metadata_overrides.lock().unwrap().clone();
    if let (Some(doc), Some(overrides)) = (doc.as_object_mut(), overrides.as_object()) {
        for (k, v) in overrides {
            if v.is_null() {
                doc.remove(k);
            } else {
                doc.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(doc)
}

#[get("/jwks")]
async fn jwks(state: &State<Arc<IdpState>>) -> Result<Value, Status> {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    wait_and_check(state).await?;
    let keys: Vec<Value> = state
        .published
        .lock()
        .unwrap()
        .iter()
        .map(Key::jwk)
        .collect();
    Ok(json!({ "keys": keys }))
}

async fn wait_and_check(state: &IdpState) -> Result<(), Status> {
    let delay = *state.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if state.available.load(Ordering::SeqCst) {
        Ok(())
    } else {
        Err(Status::ServiceUnavailable)
    }
}

impl TestIdp {
    /// Starts the IdP on a free loopback port, publishing one RSA key.
    pub async fn start() -> Self {
        let port = super::free_port();
        let issuer = format!("http://127.0.0.1:{port}");
        let key = Key::rsa("key-a", "rsa-a.pem");
        let state = Arc::new(IdpState {
            issuer: issuer.clone(),
            published: Mutex::new(vec![key.clone()]),
            metadata_overrides: Mutex::new(json!({})),
            jwks_fetches: AtomicUsize::new(0),
            discovery_fetches: AtomicUsize::new(0),
            available: AtomicBool::new(true),
            delay: Mutex::new(Duration::ZERO),
        });
        let config = rocket::Config {
            port,
            address: std::net::Ipv4Addr::LOCALHOST.into(),
            log_level: rocket::config::LogLevel::Off,
            ..rocket::Config::debug_default()
        };
        let back = Arc::new(BackChannel::new(&issuer, key.clone()));
        let rocket = rocket::custom(config)
            .manage(state.clone())
            .manage(back.clone())
            .mount("/", routes![discovery, jwks])
            .mount("/", super::back_channel::routes())
            .ignite()
            .await
            .expect("test IdP ignites");
        let shutdown = rocket.shutdown();
        tokio::spawn(rocket.launch());
        wait_for_port(port).await;
        TestIdp {
            issuer,
            state,
            key,
            back,
            _shutdown: shutdown,
        }
    }

    pub fn publish(&self, keys: Vec<Key>) {
        *self.state.published.lock().unwrap() = keys;
    }

    pub fn set_metadata(&self, overrides: Value) {
        *self.state.metadata_overrides.lock().unwrap() = overrides;
    }

    pub fn set_available(&self, available: bool) {
        self.state.available.store(available, Ordering::SeqCst);
    }

    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// How many discovery requests have arrived (counted before any delay).
    pub fn discovery_fetches(&self) -> usize {
        self.state.discovery_fetches.load(Ordering::SeqCst)
    }

    /// Claims of a valid ID token for `nonce`, to be altered by a test.
    pub fn claims(&self, nonce: &str) -> Value {
        let now = now();
        json!({
            "iss": self.issuer,
            "sub": "user-123",
            "aud": CLIENT_ID,
            "exp": now + 300,
            "iat": now,
            "nonce": nonce,
            "name": "Alice Liddell",
            "email": "alice@example.com",
            "email_verified": true,
        })
    }

    /// A correctly signed token with the given claims.
    pub fn token(&self, claims: &Value) -> String {
        sign_with(&self.key, claims)
    }

    /// Claims of a valid back-channel logout token naming `sid` and/or `sub`, with a fresh
    /// `jti`, to be altered by a test.
    pub fn logout_claims(&self, sid: Option<&str>, sub: Option<&str>) -> Value {
        let now = now();
        let mut claims = json!({
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 120,
            "jti": format!("jti-{:016x}", rand::random::<u64>()),
            "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
        });
        if let Some(sid) = sid {
            claims["sid"] = json!(sid);
        }
        if let Some(sub) = sub {
            claims["sub"] = json!(sub);
        }
        claims
    }

    /// A logout token with the given claims, signed by the IdP's key, typed `logout+jwt`.
    pub fn logout_token(&self, claims: &Value) -> String {
        sign_logout_token(&self.key, claims)
    }
}

/// Header `{"alg", "kid", "typ": "logout+jwt"}` for `key`, then the signature.
pub fn sign_logout_token(key: &Key, claims: &Value) -> String {
    let header = json!({ "alg": key.alg(), "kid": key.kid(), "typ": "logout+jwt" });
    sign_raw(key, &header, claims)
}

/// Header `{"alg", "kid", "typ": "JWT"}` for `key`, then the signature.
pub fn sign_with(key: &Key, claims: &Value) -> String {
    let header = json!({ "alg": key.alg(), "kid": key.kid(), "typ": "JWT" });
    sign_raw(key, &header, claims)
}

/// Signs exactly the given header and claims with `key`.
pub fn sign_raw(key: &Key, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64_json(header), b64_json(claims));
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// An HMAC "signature" keyed with arbitrary bytes, e.g. the IdP's public key.
pub fn sign_hs256(secret: &[u8], header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64_json(header), b64_json(claims));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

pub fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"))
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

async fn wait_for_port(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("test IdP did not start on port {port}");
}
