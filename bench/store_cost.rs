//! What the store adds to a code-flow login, measured on the stores themselves: the store file
//! (`FileStore`, the default) against the memory store, at several numbers of concurrent logins.
//!
//! A code login writes three things once its tokens are in hand (routes/auth/callback.rs,
//! token_keeper, session/index.rs): the used `state` (`consume`), the sealed tokens (`put`,
//! on disk before the login is answered) and the session in its user's set (`add_to_set`).
//! This program does exactly those calls, with keys and a value shaped like the app's, for
//! 10,000 users (a real user has few sessions), from `CONCURRENCY` tasks on a two-worker
//! runtime, and reads the process's CPU time (workers and the store file's writer thread) and
//! the wall clock. Rounds alternate the stores, each on a fresh file; medians.
//!
//! A component benchmark, not a server run: the HTTP, the IdP and the ID token's check are not
//! in it, so its figures are what the store alone costs a login, beside the server CPU per
//! login that bench/logins.sh measures.
//!
//! Run: `bash bench/store_cost.sh`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oidc_bff::testing::store::digest;
use oidc_bff::{FileStore, MemoryStore, Store};
use rand::RngCore;

const ROUNDS: usize = 3;
const LOGINS: usize = 4_000;
const CONCURRENCY: [usize; 3] = [1, 8, 32];
const USERS: usize = 10_000;
/// Sealed tokens of an access token and a refresh token (the development IdP's, sealed and in
/// base64url, are ~1.1 KB).
const TOKENS_LEN: usize = 1_100;
const STATE_TTL: Duration = Duration::from_secs(600);
const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

/// The process's CPU time (every thread), in microseconds.
fn process_cpu_us() -> f64 {
    // SAFETY: `rusage` is plain integers, for which all zeroes is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one rusage into the valid, exclusively borrowed `usage`.
    let status = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(status, 0, "getrusage");
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    us(usage.ru_utime) + us(usage.ru_stime)
}

/// A store name like the app's: the digest of a random id.
fn random_name() -> String {
    let mut random = rand::thread_rng();
    digest(&format!(
        "{:016x}{:016x}",
        random.next_u64(),
        random.next_u64()
    ))
}

/// One login's writes.
async fn login(store: &dyn Store, user: usize, tokens: &str) {
    let now_ms = oidc_bff::testing::clock::now() * 1000;
    let state = format!("consumed-state:{}", random_name());
    store
        .consume(&state, STATE_TTL, now_ms)
        .await
        .expect("consume");
    let session = random_name();
    let sealed = format!("{tokens}{session}");
    store
        .put(&format!("tokens:{{{session}}}"), sealed, SESSION_TTL)
        .await
        .expect("put");
    let set = format!("user-sessions:{}", digest(&format!("user-{user}")));
    store
        .add_to_set(&set, &session, SESSION_TTL, 10)
        .await
        .expect("add_to_set");
}

/// CPU µs per login and logins per second, for `LOGINS` logins from `concurrency` tasks.
async fn measure(store: Arc<dyn Store>, concurrency: usize) -> (f64, f64) {
    // With the session's name appended, each login's value is unique, as sealed tokens are.
    let tokens: Arc<str> = "t".repeat(TOKENS_LEN - 22).into();
    let next = Arc::new(AtomicUsize::new(0));
    let (cpu, wall) = (process_cpu_us(), Instant::now());
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (store, next, tokens) = (store.clone(), next.clone(), tokens.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= LOGINS {
                        return;
                    }
                    login(store.as_ref(), i % USERS, &tokens).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }
    let (cpu, wall) = (process_cpu_us() - cpu, wall.elapsed().as_secs_f64());
    (cpu / LOGINS as f64, LOGINS as f64 / wall)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("oidc-bff-store-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    println!("| concurrent logins | memory: CPU µs / login | file: CPU µs / login | file − memory | memory: logins/s | file: logins/s |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for concurrency in CONCURRENCY {
        let (mut memory, mut file) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let memory_store = Arc::new(MemoryStore::default());
            memory.push(runtime.block_on(measure(memory_store, concurrency)));
            let path = dir.join(format!("c{concurrency}-r{round}.redb"));
            let file_store = Arc::new(FileStore::open(&path, 1_000_000).expect("store file"));
            file.push(runtime.block_on(measure(file_store, concurrency)));
        }
        let cpu = |r: &[(f64, f64)]| median(r.iter().map(|x| x.0).collect());
        let rate = |r: &[(f64, f64)]| median(r.iter().map(|x| x.1).collect());
        println!(
            "| {concurrency} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} |",
            cpu(&memory),
            cpu(&file),
            cpu(&file) - cpu(&memory),
            rate(&memory),
            rate(&file)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
