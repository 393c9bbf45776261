//! `loadgen logout`: `--n` sessions made first (real logins, `--login-concurrency`
//! connections), then every one logged out (`POST /logout`, `Sec-Fetch-Site: same-origin`, its
//! session cookie; `303` expected) from `--concurrency` connections, timed, with the server's
//! CPU over the logouts and its resident memory before the logins, after them and after the
//! logouts. A sample of the logged-out cookies is then checked (`GET /api/hello` must answer
//! 401), so a fast logout that ends nothing cannot pass.
//!
//! Users: login i is `user-(i % --users)`; `--users` defaults to `--n` (one session per user,
//! so `MAX_SESSIONS_PER_USER` never ends a session during the logins).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::Method;

use crate::args::Args;
use crate::http::{Conn, COOKIE_HEADER};
use crate::login::{login, Minter, Target};
use crate::stats::{CpuMeter, Latencies};

pub async fn run(args: &Args) -> Result<(), String> {
    let target = Target::from_args(args)?;
    let minter = Minter::from_args(args)?;
    let n: u64 = args.or("n", 2000)?;
    let users: u64 = args.or("users", n)?.max(1);
    let concurrency: usize = args.or("concurrency", 8)?;
    let login_concurrency: usize = args.or("login-concurrency", 32)?;
    let checks: u64 = args.or("check", 200)?;
    let server_pid = args.opt("server-pid");
    let prefix = args.or("prefix", "logout".to_string())?;
    let rss = |field: &str| server_pid.as_deref().and_then(|pid| status_kib(pid, field));
    let mut lines = Vec::new();
    if let Some(kib) = rss("VmRSS") {
        lines.push(format!("{prefix}.rss_before_logins_kib={kib}"));
    }

    // The sessions: as fast as one signing thread allows.
    let clock = Instant::now();
    let sessions = make_sessions(&target, &minter, n, users, login_concurrency).await?;
    let login_secs = clock.elapsed().as_secs_f64();
    lines.push(format!("{prefix}.logins={}", sessions.len()));
    lines.push(format!("{prefix}.login_secs={login_secs:.1}"));
    lines.push(format!(
        "{prefix}.logins_per_sec={:.0}",
        sessions.len() as f64 / login_secs
    ));
    // Let the server settle (its writer's last batch, freed buffers) before reading its memory.
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Some(kib) = rss("VmRSS") {
        lines.push(format!("{prefix}.rss_after_logins_kib={kib}"));
    }

    // The logouts.
    let sessions = Arc::new(sessions);
    let next = Arc::new(AtomicU64::new(0));
    let server_cpu = server_pid.as_deref().map(CpuMeter::start);
    let own_cpu = CpuMeter::start("self");
    let clock = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (sessions, next, base) = (sessions.clone(), next.clone(), target.base.clone());
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut conn = match Conn::new(&base) {
                Ok(conn) => conn,
                Err(error) => {
                    tally.fail(error);
                    return tally;
                }
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some(cookie) = sessions.get(i) else { break };
                let headers = [
                    (COOKIE_HEADER, cookie.as_str()),
                    ("sec-fetch-site", "same-origin"),
                ];
                match conn
                    .send(Method::POST, "/logout", &headers, Some(String::new()))
                    .await
                {
                    Ok(reply) if reply.status == 303 => {
                        tally.ok += 1;
                        tally.latencies.push(reply.elapsed);
                    }
                    Ok(reply) => {
                        if reply.status >= 500 {
                            tally.server_errors += 1;
                        }
                        tally.fail(format!("/logout answered {}", reply.status));
                    }
                    Err(error) => tally.fail(error),
                }
            }
            tally
        }));
    }
    let mut tally = Tally::default();
    for worker in workers {
        tally.merge(worker.await.map_err(|e| e.to_string())?);
    }
    let secs = clock.elapsed().as_secs_f64();
    let server_cpu = server_cpu.as_ref().and_then(CpuMeter::read);
    let own_cpu = own_cpu.read();
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Some(kib) = rss("VmRSS") {
        lines.push(format!("{prefix}.rss_after_logouts_kib={kib}"));
    }
    if let Some(kib) = rss("VmHWM") {
        lines.push(format!("{prefix}.hwm_kib={kib}"));
    }
    lines.push(format!("{prefix}.ok={}", tally.ok));
    lines.push(format!("{prefix}.failed={}", tally.failed));
    lines.push(format!("{prefix}.server_errors={}", tally.server_errors));
    lines.push(format!("{prefix}.secs={secs:.2}"));
    lines.push(format!("{prefix}.rps={:.1}", tally.ok as f64 / secs));
    lines.push(format!(
        "{prefix}.p50_ms={:.2}",
        tally.latencies.percentile_ms(50.0)
    ));
    lines.push(format!(
        "{prefix}.p99_ms={:.2}",
        tally.latencies.percentile_ms(99.0)
    ));
    if let Some((used, share)) = server_cpu {
        lines.push(format!("{prefix}.server_cpu={:.0}", share * 100.0));
        lines.push(format!(
            "{prefix}.server_cpu_us_per_logout={:.0}",
            used * 1e6 / tally.ok.max(1) as f64
        ));
    }
    if let Some((_, share)) = own_cpu {
        lines.push(format!("{prefix}.loadgen_cpu={:.0}", share * 100.0));
    }

    // Logged out means refused: a sample spread over the whole list.
    let mut conn = Conn::new(&target.base)?;
    let step = (sessions.len() as u64 / checks.max(1)).max(1) as usize;
    let (mut checked, mut accepted) = (0, 0);
    for cookie in sessions.iter().step_by(step).take(checks as usize) {
        let headers = [
            (COOKIE_HEADER, cookie.as_str()),
            ("sec-fetch-mode", "cors"),
            ("sec-fetch-dest", "empty"),
            ("accept", "*/*"),
        ];
        let reply = conn.get("/api/hello", &headers).await?;
        checked += 1;
        if reply.status != 401 {
            accepted += 1;
        }
    }
    lines.push(format!("{prefix}.checked={checked}"));
    lines.push(format!("{prefix}.still_accepted={accepted}"));

    for line in &lines {
        println!("{line}");
    }
    if let Some(error) = &tally.first_error {
        println!("# first failure: {error}");
    }
    if let Some(path) = args.opt("out") {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("{path}: {e}"))?;
        for line in &lines {
            writeln!(file, "{line}").map_err(|e| e.to_string())?;
        }
    }
    if tally.ok == 0 {
        return Err("no logout succeeded".into());
    }
    Ok(())
}

/// `n` logins from `concurrency` connections; their session cookies, in login order.
async fn make_sessions(
    target: &Target,
    minter: &Minter,
    n: u64,
    users: u64,
    concurrency: usize,
) -> Result<Vec<String>, String> {
    let claimed = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (target, minter, claimed) = (target.clone(), minter.clone(), claimed.clone());
        workers.push(tokio::spawn(async move {
            let mut made = Vec::new();
            let mut conn = Conn::new(&target.base)?;
            let mut failures = 0;
            loop {
                let i = claimed.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let mut tries = 0;
                loop {
                    match login(&mut conn, &target, &minter, i % users).await {
                        Ok(done) => {
                            made.push((i, done.session));
                            break;
                        }
                        Err(error) => {
                            tries += 1;
                            failures += 1;
                            if tries >= 3 || failures > 10 {
                                return Err(format!("logins failing: {error}"));
                            }
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            }
            Ok::<_, String>(made)
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.map_err(|e| e.to_string())??);
    }
    all.sort_unstable_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, s)| s).collect())
}

#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    server_errors: u64,
    latencies: Latencies,
    first_error: Option<String>,
}

impl Tally {
    fn fail(&mut self, error: String) {
        self.failed += 1;
        self.first_error.get_or_insert(error);
    }

    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.server_errors += other.server_errors;
        self.latencies.extend(other.latencies);
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// A `kB` line of /proc/<pid>/status, in KiB.
fn status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
