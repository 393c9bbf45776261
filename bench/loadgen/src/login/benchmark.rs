//! `loadgen login`: a warm-up, then timed phases of logins from many connections, and the
//! report of their latencies, throughput and the server's CPU.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{finish, login, start, Login, Minter, Target};
use crate::args::Args;
use crate::http::Conn;
use crate::stats::{status_mib, CpuMeter, Latencies};

/// `loadgen login`: a warm-up, then logins from `--concurrency` connections until `--n`
/// logins or `--secs` seconds, whichever comes first.
pub async fn run(args: &Args) -> Result<(), String> {
    match args.or("flow", "id_token".to_string())?.as_str() {
        "id_token" => {}
        "code" => return super::code::run(args).await,
        other => return Err(format!("--flow {other}: use id_token or code")),
    }
    let target = Target::from_args(args)?;
    let minter = Minter::from_args(args)?;
    let concurrency: usize = args.or("concurrency", 32)?;
    let max_logins: u64 = args.or("n", 1_000_000)?;
    let secs: f64 = args.or("secs", 10.0)?;
    let warmup_secs: f64 = args.or("warmup-secs", 2.0)?;
    let server_pid = args.opt("server-pid");
    let prefix = args.or("prefix", "login".to_string())?;

    // One login first: proves the set-up and gives a session cookie for other tools.
    let mut conn = Conn::new(&target.base)?;
    let first = login(&mut conn, &target, &minter, 0).await?;
    // What a browser would send to the measured path (`--session-path`): only cookies whose
    // `Path` matches it, so not the logout hint scoped to `/logout`.
    if let Some(path) = args.opt("session-out") {
        let request_path = args.or("session-path", "/api/hello".to_string())?;
        let header = first.jar.header_for(&request_path);
        // express-openid-connect may split its session into `appSession.0`, `.1`, ...
        let name = &target.session_cookie;
        let (whole, part) = (format!("{name}="), format!("{name}."));
        if !header
            .split("; ")
            .any(|c| c.starts_with(&whole) || c.starts_with(&part))
        {
            return Err(format!(
                "a browser would send no session cookie to {request_path}"
            ));
        }
        std::fs::write(&path, &header).map_err(|e| format!("{path}: {e}"))?;
    }
    if secs <= 0.0 {
        println!("one login done; session cookie written");
        return Ok(());
    }

    if warmup_secs > 0.0 {
        phase(&target, &minter, concurrency, u64::MAX, warmup_secs).await;
    }
    let split: u64 = args.or("split", 0)?;
    if split > 0 {
        return split_run(
            &target,
            &minter,
            concurrency,
            split,
            server_pid.as_deref(),
            &prefix,
            args,
        )
        .await;
    }
    let server_cpu = server_pid.as_deref().map(CpuMeter::start);
    let own_cpu = CpuMeter::start("self");
    let started = Instant::now();
    let mut result = phase(&target, &minter, concurrency, max_logins, secs).await;
    let wall = started.elapsed().as_secs_f64();
    let ok = result.ok;
    let mut lines = summary_lines(&prefix, &mut result, wall);
    lines.push(format!("{prefix}.connects={}", result.connects));
    if let Some((used, share)) = own_cpu.read() {
        lines.push(format!("{prefix}.loadgen_cpu={:.0}", share * 100.0));
        lines.push(format!(
            "{prefix}.loadgen_cpu_us_per_login={:.0}",
            used * 1e6 / ok.max(1) as f64
        ));
    }
    if let Some((used, share)) = server_cpu.as_ref().and_then(CpuMeter::read) {
        lines.push(format!("{prefix}.server_cpu={:.0}", share * 100.0));
        lines.push(format!(
            "{prefix}.server_cpu_us_per_login={:.0}",
            used * 1e6 / ok.max(1) as f64
        ));
    }
    if let Some(pid) = server_pid.as_deref() {
        if let Some(rss) = status_mib(pid, "VmRSS") {
            lines.push(format!("{prefix}.server_rss_mib={rss:.1}"));
        }
    }
    report(args, &lines, &result)
}

/// The lines every login measurement reports: counts, rate over `secs`, latency percentiles.
pub(super) fn summary_lines(prefix: &str, result: &mut PhaseResult, secs: f64) -> Vec<String> {
    vec![
        format!("{prefix}.ok={}", result.ok),
        format!("{prefix}.failed={}", result.failed),
        format!("{prefix}.secs={secs:.2}"),
        format!("{prefix}.rps={:.1}", result.ok as f64 / secs),
        format!(
            "{prefix}.p50_ms={:.2}",
            result.latencies.percentile_ms(50.0)
        ),
        format!(
            "{prefix}.p99_ms={:.2}",
            result.latencies.percentile_ms(99.0)
        ),
    ]
}

/// Prints the lines (and the first failure), appends them to `--out`, and fails the command
/// when no login succeeded.
pub(super) fn report(args: &Args, lines: &[String], result: &PhaseResult) -> Result<(), String> {
    for line in lines {
        println!("{line}");
    }
    if let Some(error) = &result.first_error {
        println!("# first failure: {error}");
    }
    if let Some(path) = args.opt("out") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("{path}: {e}"))?;
        for line in lines {
            writeln!(file, "{line}").map_err(|e| e.to_string())?;
        }
    }
    if result.ok == 0 {
        return Err("no login succeeded".into());
    }
    Ok(())
}

/// `--split N`: the server's own login capacity, which one core of RS256 signing cannot reach
/// in the pipelined run. N logins in three steps: all `GET /login`s (timed), then their ID
/// tokens minted (not timed: the server is idle), then all `POST /callback`s (timed). Logins
/// per second = N / (time of the two timed steps); each token is still minted for its own
/// fresh nonce and fully validated by the server.
async fn split_run(
    target: &Target,
    minter: &Minter,
    concurrency: usize,
    n: u64,
    server_pid: Option<&str>,
    prefix: &str,
    args: &Args,
) -> Result<(), String> {
    let per_worker = n.div_ceil(concurrency as u64);
    let mut conns = Vec::new();
    for _ in 0..concurrency {
        conns.push(Conn::new(&target.base)?);
    }
    // Step 1: the redirects to the IdP.
    let server_cpu = server_pid.map(CpuMeter::start);
    let clock = Instant::now();
    let mut tasks = Vec::new();
    for mut conn in conns {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut started = Vec::new();
            for _ in 0..per_worker {
                started.push(start(&mut conn, &target).await);
            }
            (conn, started)
        }));
    }
    let mut steps = Vec::new();
    for task in tasks {
        steps.push(task.await.map_err(|e| e.to_string())?);
    }
    let first_step = clock.elapsed();
    let cpu_first = server_cpu
        .as_ref()
        .and_then(CpuMeter::read)
        .map(|(used, _)| used);
    // Step 2: one token per started login, for its nonce.
    let mut prepared = Vec::new();
    let mut user = 0;
    for (conn, started) in steps {
        let mut ready = Vec::new();
        for step in started {
            let step = step?;
            user += 1;
            let claims = minter.template.claims(&step.nonce, user % 1000);
            let token = minter.signer.sign(claims).await.ok_or("signer stopped")?;
            ready.push((step, token));
        }
        prepared.push((conn, ready));
    }
    // Step 3: the callbacks.
    let server_cpu = server_pid.map(CpuMeter::start);
    let clock = Instant::now();
    let mut tasks = Vec::new();
    for (mut conn, ready) in prepared {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut result = PhaseResult::default();
            for (step, token) in ready {
                result.record(finish(&mut conn, &target, &step, &token).await);
            }
            result
        }));
    }
    let mut result = PhaseResult::default();
    for task in tasks {
        result.merge(task.await.map_err(|e| e.to_string())?);
    }
    let second_step = clock.elapsed();
    let cpu_second = server_cpu
        .as_ref()
        .and_then(CpuMeter::read)
        .map(|(used, _)| used);
    let timed = (first_step + second_step).as_secs_f64();
    let ok = result.ok;
    let mut lines = summary_lines(prefix, &mut result, timed);
    lines.push(format!(
        "{prefix}.login_step_secs={:.2}",
        first_step.as_secs_f64()
    ));
    lines.push(format!(
        "{prefix}.callback_step_secs={:.2}",
        second_step.as_secs_f64()
    ));
    if let (Some(a), Some(b)) = (cpu_first, cpu_second) {
        lines.push(format!(
            "{prefix}.server_cpu={:.0}",
            100.0 * (a + b) / timed
        ));
        lines.push(format!(
            "{prefix}.server_cpu_us_per_login={:.0}",
            (a + b) * 1e6 / ok.max(1) as f64
        ));
    }
    report(args, &lines, &result)
}

/// What a set of logins came to; each connection keeps its own, merged at the end.
#[derive(Default)]
pub(super) struct PhaseResult {
    pub ok: u64,
    failed: u64,
    latencies: Latencies,
    pub first_error: Option<String>,
    connects: u64,
}

impl PhaseResult {
    pub fn record(&mut self, outcome: Result<Login, String>) {
        match outcome {
            Ok(done) => {
                self.ok += 1;
                self.latencies.push(done.pair);
            }
            Err(error) => {
                self.failed += 1;
                self.first_error.get_or_insert(error);
            }
        }
    }

    pub fn merge(&mut self, other: PhaseResult) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.latencies.extend(other.latencies);
        self.connects += other.connects;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

async fn phase(
    target: &Target,
    minter: &Minter,
    concurrency: usize,
    max_logins: u64,
    secs: f64,
) -> PhaseResult {
    let claimed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let target = target.clone();
        let minter = minter.clone();
        let claimed = claimed.clone();
        workers.push(tokio::spawn(async move {
            let mut result = PhaseResult::default();
            let mut conn = match Conn::new(&target.base) {
                Ok(conn) => conn,
                Err(e) => {
                    result.record(Err(e));
                    return result;
                }
            };
            while Instant::now() < deadline {
                let n = claimed.fetch_add(1, Ordering::Relaxed);
                if n >= max_logins {
                    break;
                }
                let outcome = login(&mut conn, &target, &minter, n % 1000).await;
                let failed = outcome.is_err();
                result.record(outcome);
                if failed {
                    // Do not spin on a dead server.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            result.connects = conn.connects;
            result
        }));
    }
    let mut result = PhaseResult::default();
    for worker in workers {
        if let Ok(worker_result) = worker.await {
            result.merge(worker_result);
        }
    }
    result
}
