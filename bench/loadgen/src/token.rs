//! The bench IdP's signing key (RS256) and a pool of signing threads, so that minting an ID
//! token (about 0.7 ms of RSA per token) never blocks the HTTP event loop.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub struct SigningKey {
    pair: RsaKeyPair,
    pub kid: String,
}

impl SigningKey {
    /// Loads a PKCS#8 PEM RSA key (`-----BEGIN PRIVATE KEY-----`).
    pub fn load(path: &str, kid: &str) -> Result<Self, String> {
        let pem = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let body: String = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let der = STANDARD
            .decode(body.trim())
            .map_err(|e| format!("{path}: not PEM ({e})"))?;
        let pair = RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("{path}: {e}"))?;
        Ok(Self {
            pair,
            kid: kid.to_string(),
        })
    }

    /// The public key as a JWK, as the IdP publishes it.
    pub fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        })
    }

    /// A compact JWS (header.claims.signature) over `claims`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": "RS256", "kid": self.kid, "typ": "JWT" });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        // aws-lc ignores the rng argument for PKCS#1 v1.5; signing with a valid key cannot fail.
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| ())
            .unwrap_or_default();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// What a token says, besides the nonce that comes from the app's `/login`.
#[derive(Clone)]
pub struct TokenTemplate {
    pub issuer: String,
    pub client_id: String,
}

impl TokenTemplate {
    pub fn claims(&self, nonce: &str, user: u64) -> Value {
        let now = unix_now();
        json!({
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": format!("user-{user}"),
            "exp": now + 300,
            "iat": now,
            "nonce": nonce,
            "name": format!("Bench User {user}"),
            "email": format!("user{user}@example.com"),
            "email_verified": true,
        })
    }
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

type Job = (Value, oneshot::Sender<String>);

/// A fixed set of OS threads that sign tokens; async callers await the result.
#[derive(Clone)]
pub struct SignerPool {
    jobs: mpsc::Sender<Job>,
}

impl SignerPool {
    pub fn start(key: Arc<SigningKey>, threads: usize) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let key = key.clone();
            std::thread::Builder::new()
                .name(format!("signer-{i}"))
                .spawn(move || {
                    demote_if_realtime();
                    loop {
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        let Ok((claims, reply)) = job else { return };
                        let _ = reply.send(key.sign(&claims));
                    }
                })
                .expect("spawn signer thread");
        }
        Self { jobs: tx }
    }

    pub async fn sign(&self, claims: Value) -> Option<String> {
        let (tx, rx) = oneshot::channel();
        self.jobs.send((claims, tx)).ok()?;
        rx.await.ok()
    }
}

/// When bench/run.sh gives the load generator a real-time priority (so that other work on a
/// shared machine cannot delay it), the signing threads step down to the highest normal
/// priority: the HTTP thread then preempts them the moment a response arrives, and latency
/// is not inflated by a signer holding the core for a whole round-robin slice.
fn demote_if_realtime() {
    // SAFETY: plain syscalls on the calling thread with valid arguments.
    unsafe {
        let policy = libc::sched_getscheduler(0);
        if policy == libc::SCHED_RR || policy == libc::SCHED_FIFO {
            let param = libc::sched_param { sched_priority: 0 };
            libc::sched_setscheduler(0, libc::SCHED_OTHER, &param);
            libc::setpriority(libc::PRIO_PROCESS, 0, -20);
        }
    }
}
