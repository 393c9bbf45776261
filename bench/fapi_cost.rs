//! What the FAPI 2.0 client features add to the server's work, measured on the code that does
//! it: a DPoP proof per upstream call (and, once per session and instance, loading the key
//! from its stored form), and per login a DPoP key and proof for the code exchange and a client assertion
//! for each authenticated call to the IdP (token endpoint, and the PAR push with PAR).
//!
//! A component benchmark, not a server run: the figures are CPU microseconds per operation on
//! one thread (its CPU clock, not the wall clock), to compare with the server CPU per request and per login that bench/run.sh,
//! bench/redis.sh and bench/gateway.sh measure. Rounds alternate the operations; medians.
//!
//! Run: `bash bench/fapi.sh` (a release build without LTO, then this program).

use std::hint::black_box;

use oidc_bff::testing::config::ClientAuthMethod;
use oidc_bff::testing::jose::SigningKey;
use oidc_bff::testing::oidc::client_auth::ClientCredentials;
use oidc_bff::testing::oidc::discovery::ProviderMetadata;
use oidc_bff::testing::oidc::dpop::DpopKey;
use std::sync::Arc;

const ROUNDS: usize = 7;
const ITERATIONS: usize = 2_000;

/// This thread's CPU time in nanoseconds, so that time spent waiting for the CPU on a busy
/// machine is not counted.
fn thread_cpu_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `now`.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// Median over rounds of the mean CPU µs per call of `op`.
fn measure(op: &mut dyn FnMut()) -> f64 {
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let started = thread_cpu_ns();
            for _ in 0..ITERATIONS {
                op();
            }
            (thread_cpu_ns() - started) as f64 / 1e3 / ITERATIONS as f64
        })
        .collect();
    rounds.sort_by(|a, b| a.total_cmp(b));
    rounds[ROUNDS / 2]
}

fn metadata(algs: &[&str]) -> ProviderMetadata {
    serde_json::from_value(serde_json::json!({
        "issuer": "https://idp.example",
        "authorization_endpoint": "https://idp.example/authorize",
        "jwks_uri": "https://idp.example/jwks",
        "token_endpoint_auth_signing_alg_values_supported": algs,
    }))
    .expect("metadata")
}

fn credentials(key: Option<&str>, method: ClientAuthMethod) -> ClientCredentials {
    ClientCredentials {
        client_id: "app".into(),
        secret: Some("a-client-secret".into()),
        method: Some(method),
        key: key.map(|file| {
            let path = format!("{}/tests/support/keys/{file}", env!("CARGO_MANIFEST_DIR"));
            Arc::new(SigningKey::from_pem(&std::fs::read(path).expect("key")).expect("PEM"))
        }),
    }
}

fn main() {
    let url = url::Url::parse("https://api.example/v1/orders/42?page=2").expect("url");
    let stored = DpopKey::generate().expect("key").to_stored();
    let token = "an-access-token-of-typical-length-0123456789abcdef0123456789";
    let secret = credentials(None, ClientAuthMethod::ClientSecretBasic);
    let es256 = credentials(Some("ec-a.pem"), ClientAuthMethod::PrivateKeyJwt);
    let rsa = credentials(Some("rsa-a.pem"), ClientAuthMethod::PrivateKeyJwt);
    let (ps, rs, es) = (
        metadata(&["PS256"]),
        metadata(&["RS256"]),
        metadata(&["ES256"]),
    );

    let bearer = measure(&mut || {
        black_box(format!("Bearer {token}"));
    });
    let dpop_call = measure(&mut || {
        let key = DpopKey::from_stored(black_box(&stored)).expect("stored key");
        black_box(
            key.proof("GET", &url, Some(token), Some("server-nonce"))
                .expect("proof"),
        );
    });
    let loaded = DpopKey::from_stored(&stored).expect("stored key");
    let dpop_proof_only = measure(&mut || {
        black_box(
            loaded
                .proof("GET", &url, Some(token), Some("server-nonce"))
                .expect("proof"),
        );
    });
    let dpop_login = measure(&mut || {
        let key = DpopKey::generate().expect("key");
        black_box(key.proof("POST", &url, None, None).expect("proof"));
        black_box(key.to_stored());
    });
    let basic = measure(&mut || {
        black_box(secret.authenticate(&es));
    });
    let assertion_es256 = measure(&mut || {
        black_box(es256.authenticate(&es));
    });
    let assertion_ps256 = measure(&mut || {
        black_box(rsa.authenticate(&ps));
    });
    let assertion_rs256 = measure(&mut || {
        black_box(rsa.authenticate(&rs));
    });

    println!("| operation (median of {ROUNDS} rounds of {ITERATIONS}) | µs CPU |");
    println!("|---|---:|");
    println!("| Bearer header (baseline per call) | {bearer:.2} |");
    println!("| DPoP per call: a proof with ath and nonce, the session's key already loaded (the server keeps it) | {dpop_proof_only:.1} |");
    println!("| DPoP, the first call of a session on an instance: load the key, then the proof | {dpop_call:.1} |");
    println!("| DPoP per login: generate the key, sign the exchange's proof, store the key | {dpop_login:.1} |");
    println!("| client_secret_basic per IdP call (baseline) | {basic:.2} |");
    println!("| private_key_jwt per IdP call, ES256 (P-256 key) | {assertion_es256:.1} |");
    println!("| private_key_jwt per IdP call, PS256 (RSA 2048) | {assertion_ps256:.1} |");
    println!("| private_key_jwt per IdP call, RS256 (RSA 2048) | {assertion_rs256:.1} |");
}
