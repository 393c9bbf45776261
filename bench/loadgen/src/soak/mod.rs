//! `loadgen soak`: mixed traffic for `--secs` seconds: logins, API calls with valid, expired,
//! tampered and missing session cookies, and bad callbacks (no state, unknown state, garbage
//! token, a body far over the form limit, JSON instead of a form). Every answer is checked
//! against the status the app must give; 5xx answers and RSS growth after the warm-up decide
//! the verdict.
//!
//! Several instances (bench/soak-redis.sh): `--app` and `--server-pid` take comma-separated
//! lists, and every request goes to an instance picked at random, so a login starts on one and
//! finishes on the other and its session is used on either; `--logouts W` adds logouts (on a
//! random instance) and later calls with the logged-out cookie, which every instance must
//! refuse. `--outage-from-secs F --outage-secs D` declares the shared store down from F for D
//! seconds: inside that window (plus `--recovery-secs` for reconnecting) the 503s the README
//! documents for a store outage are counted apart, as "documented", and every other answer
//! must still be the normal one; after it, everything must be normal again.
//!
//! Here the command (`run`: the workers, the progress lines, the verdict); `ops`: the mix of
//! operations and each one's requests; `verdict`: the outage window and the answer each
//! request must get; `tally`: the counts per operation and instance; `worker`: a worker's
//! connections, random numbers and requests.

mod ops;
mod tally;
mod verdict;
mod worker;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::args::Args;
use crate::http::Conn;
use crate::login::{Minter, Target};
use crate::stats::status_mib;
use ops::{one, Op, MIX};
use tally::{flush, mib_list, totals, Cookies, Shared, Tallies, Tally};
use verdict::{judge, Outage, Verdict};
use worker::{Ctx, Rng, Worker};

pub async fn run(args: &Args) -> Result<(), String> {
    let first = Target::from_args(args)?;
    let targets: Vec<Target> = first
        .base
        .split(',')
        .map(|base| Target {
            base: base.trim().to_string(),
            ..first.clone()
        })
        .collect();
    let minter = Minter::from_args(args)?;
    let secs: f64 = args.or("secs", 600.0)?;
    let warmup: f64 = args.or("warmup-secs", 30.0)?;
    let concurrency: usize = args.or("concurrency", 16)?;
    let rate: f64 = args.or("rate", 0.0)?;
    let idle = Duration::from_secs(args.or("idle-secs", 20)?);
    let oversize = args.or("oversize-kib", 100usize)? * 1024;
    let max_growth_pct: f64 = args.or("max-growth-pct", 10.0)?;
    let logouts: u32 = args.or("logouts", 0)?;
    let outage = Outage::from_args(args)?;
    let pids: Vec<String> = args
        .opt("server-pid")
        .map(|p| p.split(',').map(|s| s.trim().to_string()).collect())
        .unwrap_or_default();
    if !pids.is_empty() && pids.len() != targets.len() {
        return Err("--server-pid: one pid per --app base URL".into());
    }
    let mut mix = MIX.to_vec();
    if logouts > 0 {
        mix.push((Op::Logout, logouts));
        mix.push((Op::ApiLoggedOut, logouts));
    }
    let mix = Arc::new(mix);
    let n = targets.len();

    let started = Instant::now();
    // The script that stops the store reads this to time the outage on the soak's own clock.
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    println!("# clock started at unix ms {unix_ms}");
    let ctx = Arc::new(Ctx {
        targets,
        minter,
        shared: Shared {
            cookies: Mutex::new(Cookies::default()),
            idle,
            tallies: Mutex::new(Tallies {
                ops: BTreeMap::new(),
                instances: vec![Tally::default(); n],
            }),
        },
        outage,
        oversize,
        started,
    });
    let deadline = started + Duration::from_secs_f64(secs);
    let mut workers = Vec::new();
    for i in 0..concurrency {
        let ctx = ctx.clone();
        let mix = mix.clone();
        workers.push(tokio::spawn(async move {
            let Ok(conns) = ctx
                .targets
                .iter()
                .map(|t| Conn::new(&t.base))
                .collect::<Result<Vec<_>, _>>()
            else {
                return;
            };
            let mut w = Worker {
                conns,
                rng: Rng(0x9E37_79B9_7F4A_7C15 ^ ((i as u64 + 1) * 0x1000_0001)),
            };
            let mut pace = (rate > 0.0).then(|| {
                let mut t =
                    tokio::time::interval(Duration::from_secs_f64(concurrency as f64 / rate));
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            let session_cookie = ctx.targets[0].session_cookie.clone();
            let mut local = Tallies {
                ops: BTreeMap::new(),
                instances: vec![Tally::default(); n],
            };
            let mut last_flush = Instant::now();
            while Instant::now() < deadline {
                if let Some(p) = pace.as_mut() {
                    p.tick().await;
                }
                let op = w.rng.op(&mix);
                let (op, answers) = one(op, &ctx, &mut w).await;
                local.ops.entry(op).or_default().ops += 1;
                let mut failed = false;
                for a in &answers {
                    let verdict = judge(a, ctx.outage.as_ref(), &session_cookie);
                    failed |= matches!(verdict, Verdict::Transport(_));
                    local
                        .ops
                        .entry(op)
                        .or_default()
                        .note(a, &verdict, ctx.outage.as_ref());
                    local.instances[a.instance].note(a, &verdict, ctx.outage.as_ref());
                }
                if failed {
                    // Do not spin on a dead server.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                if last_flush.elapsed() > Duration::from_secs(1) {
                    flush(&ctx.shared, &mut local);
                    last_flush = Instant::now();
                }
            }
            flush(&ctx.shared, &mut local);
        }));
    }

    // Progress every 10 s, RSS at the end of the warm-up and at the last second under load
    // (after the traffic stops, freed connection buffers would flatter the figure).
    let mut rss_start: Vec<Option<f64>> = vec![None; pids.len()];
    let mut rss_last: Vec<Option<f64>> = vec![None; pids.len()];
    let mut rss_max: Vec<f64> = vec![0.0; pids.len()];
    let mut warm = false;
    let mut last_requests = 0u64;
    let mut last_tick = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut next_report = 10u64;
    loop {
        ticker.tick().await;
        let elapsed = started.elapsed().as_secs_f64();
        let rss: Vec<Option<f64>> = pids.iter().map(|p| status_mib(p, "VmRSS")).collect();
        for (i, r) in rss.iter().enumerate() {
            if let Some(r) = *r {
                rss_max[i] = rss_max[i].max(r);
                rss_last[i] = Some(r);
            }
        }
        if !warm && elapsed >= warmup {
            warm = true;
            rss_start = rss.clone();
            println!(
                "# warm-up over at {elapsed:.0} s: RSS {} MiB",
                mib_list(&rss)
            );
        }
        if elapsed as u64 >= next_report || Instant::now() >= deadline {
            next_report += 10;
            let total = totals(&ctx.shared);
            let rps = (total.requests - last_requests) as f64 / last_tick.elapsed().as_secs_f64();
            last_requests = total.requests;
            last_tick = Instant::now();
            let window = match ctx.outage {
                Some(o) if o.covers(elapsed - 10.0, elapsed) => "  [outage window]",
                _ => "",
            };
            let documented = match ctx.outage {
                Some(_) => format!(
                    "  documented 503 {}",
                    total.documented_page + total.documented_session
                ),
                None => String::new(),
            };
            println!(
                "# {elapsed:5.0} s  requests {:>9}  ({rps:7.0}/s)  5xx {}{documented}  unexpected {}  transport errors {}  RSS {} MiB{window}",
                total.requests,
                total.server_errors,
                total.unexpected,
                total.transport_errors,
                mib_list(&rss)
            );
        }
        if Instant::now() >= deadline {
            break;
        }
    }
    for w in workers {
        let _ = w.await;
    }
    let wall = started.elapsed().as_secs_f64();
    let total = totals(&ctx.shared);
    let fmt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.1}"));
    let mut lines = vec![
        format!("soak.clock_start_unix_ms={unix_ms}"),
        format!("soak.secs={wall:.0}"),
        format!("soak.requests={}", total.requests),
        format!("soak.rps={:.0}", total.requests as f64 / wall),
        format!("soak.5xx={}", total.server_errors),
        format!("soak.unexpected={}", total.unexpected),
        format!("soak.transport_errors={}", total.transport_errors),
    ];
    if let Some(o) = ctx.outage {
        lines.push(format!(
            "soak.outage_window=from {:.0} s to {:.0} s (outage and reconnecting); sessions may answer 503 from {:.0} s",
            o.from, o.until, o.sessions_from
        ));
        lines.push(format!(
            "soak.5xx_outside_window={}",
            total.server_errors_outside
        ));
        lines.push(format!(
            "soak.documented_503_login_pages={}",
            total.documented_page
        ));
        lines.push(format!(
            "soak.documented_503_sessions={}",
            total.documented_session
        ));
        lines.push(format!("soak.logins_after_window={}", total.logins_after));
    }
    // Per instance: the counters when there are several, RSS for each pid.
    let mut growth_ok = !pids.is_empty();
    let instances = ctx
        .shared
        .tallies
        .lock()
        .map(|t| t.instances.clone())
        .unwrap_or_default();
    for i in 0..n {
        let p = if n == 1 {
            "soak".to_string()
        } else {
            format!("soak.instance.{i}")
        };
        if n > 1 {
            let t = &instances[i];
            lines.push(format!("{p}.base={}", ctx.targets[i].base));
            lines.push(format!("{p}.requests={}", t.requests));
            lines.push(format!("{p}.5xx={}", t.server_errors));
            lines.push(format!(
                "{p}.5xx_outside_window={}",
                t.server_errors_outside
            ));
            lines.push(format!("{p}.unexpected={}", t.unexpected));
            lines.push(format!("{p}.transport_errors={}", t.transport_errors));
            lines.push(format!(
                "{p}.documented_503_login_pages={}",
                t.documented_page
            ));
            lines.push(format!(
                "{p}.documented_503_sessions={}",
                t.documented_session
            ));
            lines.push(format!(
                "{p}.first_documented_503_secs={}",
                fmt(t.first_503)
            ));
            lines.push(format!("{p}.last_documented_503_secs={}", fmt(t.last_503)));
            let documented = t.documented_page + t.documented_session;
            lines.push(format!(
                "{p}.documented_503_mean_ms={:.1}",
                t.secs_503 * 1000.0 / documented.max(1) as f64
            ));
            lines.push(format!(
                "{p}.documented_503_slowest_ms={:.1}",
                t.slowest_503 * 1000.0
            ));
            lines.push(format!("{p}.slowest_answer_ms={:.1}", t.slowest * 1000.0));
            lines.push(format!("{p}.logins={}", t.logins));
            lines.push(format!("{p}.logins_after_window={}", t.logins_after));
        }
        let Some(pid) = pids.get(i) else { continue };
        let growth = match (rss_start[i], rss_last[i]) {
            (Some(a), Some(b)) if a > 0.0 => Some((b - a) / a * 100.0),
            _ => None,
        };
        growth_ok &= growth.is_some_and(|g| g < max_growth_pct);
        lines.push(format!("{p}.rss_start_mib={}", fmt(rss_start[i])));
        lines.push(format!(
            "{p}.rss_after_traffic_mib={}",
            fmt(status_mib(pid, "VmRSS"))
        ));
        lines.push(format!("{p}.rss_end_mib={}", fmt(rss_last[i])));
        lines.push(format!("{p}.rss_max_mib={:.1}", rss_max[i]));
        lines.push(format!("{p}.rss_hwm_mib={}", fmt(status_mib(pid, "VmHWM"))));
        lines.push(format!("{p}.rss_growth_pct={}", fmt(growth)));
    }
    if let Ok(tallies) = ctx.shared.tallies.lock() {
        for (op, t) in tallies.ops.iter() {
            let documented = match ctx.outage {
                Some(_) => format!(
                    " documented_503 {}",
                    t.documented_page + t.documented_session
                ),
                None => String::new(),
            };
            lines.push(format!(
                "soak.op.{op:?}=ops {} requests {} expected {} unexpected {} 5xx {}{documented} transport_errors {} slowest_ms {:.1}{}",
                t.ops,
                t.requests,
                t.expected,
                t.unexpected,
                t.server_errors,
                t.transport_errors,
                t.slowest * 1000.0,
                if t.examples.is_empty() { String::new() } else { format!(" e.g. {}", t.examples.join(" | ")) }
            ));
        }
    }
    let mut pass = total.server_errors_outside == 0 && growth_ok;
    if ctx.outage.is_some() {
        // With a declared outage every answer is judged: a wrong one, a hang, or an instance
        // that takes no login after the window fails the run.
        pass &= total.unexpected == 0
            && total.transport_errors == 0
            && instances.iter().all(|t| t.logins_after > 0);
    }
    lines.push(format!(
        "soak.verdict={}",
        if pass { "PASS" } else { "FAIL" }
    ));
    for line in &lines {
        println!("{line}");
    }
    if let Some(path) = args.opt("out") {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("{path}: {e}"))?;
        for line in &lines {
            writeln!(file, "{line}").map_err(|e| e.to_string())?;
        }
    }
    if pass {
        Ok(())
    } else if ctx.outage.is_some() {
        Err("soak failed: 5xx outside the outage window, wrong answers, no recovery, or RSS growth over the limit (see above)".into())
    } else {
        Err("soak failed: 5xx answers or RSS growth over the limit (see above)".into())
    }
}
