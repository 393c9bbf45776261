//! `loadgen report FILE`: the comparison table (Markdown) from the `key=value` lines that
//! bench/run.sh collected.

use std::collections::HashMap;

use crate::args::Args;

struct Row {
    label: &'static str,
    ours: &'static str,
    floor: Option<&'static str>,
    peer: &'static str,
    decimals: usize,
}

const ROWS: &[Row] = &[
    Row { label: "1. GET /api/hello with session (req/s)", ours: "ours.hello_auth.rps", floor: Some("floor.cookie.rps"), peer: "peer.hello_auth.rps", decimals: 0 },
    Row { label: "2. GET /api/hello without cookie, 401 (req/s)", ours: "ours.hello_401.rps", floor: Some("floor.nocookie.rps"), peer: "peer.hello_401.rps", decimals: 0 },
    Row { label: "3a. floor route, same headers + cookie (req/s)", ours: "floor.cookie.rps", floor: None, peer: "peer.floor_cookie.rps", decimals: 0 },
    Row { label: "3b. floor route, no cookie (req/s)", ours: "floor.nocookie.rps", floor: None, peer: "peer.floor_nocookie.rps", decimals: 0 },
    Row { label: "1. server CPU per request (µs)", ours: "ours.hello_auth.server_cpu_us_per_req", floor: Some("floor.cookie.server_cpu_us_per_req"), peer: "peer.hello_auth.server_cpu_us_per_req", decimals: 1 },
    Row { label: "2. server CPU per request (µs)", ours: "ours.hello_401.server_cpu_us_per_req", floor: Some("floor.nocookie.server_cpu_us_per_req"), peer: "peer.hello_401.server_cpu_us_per_req", decimals: 1 },
    Row { label: "3a. server CPU per request (µs)", ours: "floor.cookie.server_cpu_us_per_req", floor: None, peer: "peer.floor_cookie.server_cpu_us_per_req", decimals: 1 },
    Row { label: "3b. server CPU per request (µs)", ours: "floor.nocookie.server_cpu_us_per_req", floor: None, peer: "peer.floor_nocookie.server_cpu_us_per_req", decimals: 1 },
    Row { label: "4. completed logins (/s), pipelined with signing", ours: "ours.login.rps", floor: None, peer: "peer.login.rps", decimals: 0 },
    Row { label: "4'. completed logins (/s), server-bound (--split)", ours: "ours.login_split.rps", floor: None, peer: "peer.login_split.rps", decimals: 0 },
    Row { label: "4'. server CPU per login, --split (µs)", ours: "ours.login_split.server_cpu_us_per_login", floor: None, peer: "peer.login_split.server_cpu_us_per_login", decimals: 0 },
    Row { label: "5a. (1) latency p50 (ms)", ours: "ours.hello_auth.p50_ms", floor: Some("floor.cookie.p50_ms"), peer: "peer.hello_auth.p50_ms", decimals: 2 },
    Row { label: "5b. (1) latency p99 (ms)", ours: "ours.hello_auth.p99_ms", floor: Some("floor.cookie.p99_ms"), peer: "peer.hello_auth.p99_ms", decimals: 2 },
    Row { label: "5c. (4) login pair latency p50 (ms)", ours: "ours.login.p50_ms", floor: None, peer: "peer.login.p50_ms", decimals: 2 },
    Row { label: "5d. (4) login pair latency p99 (ms)", ours: "ours.login.p99_ms", floor: None, peer: "peer.login.p99_ms", decimals: 2 },
    Row { label: "4. server CPU per login (µs)", ours: "ours.login.server_cpu_us_per_login", floor: None, peer: "peer.login.server_cpu_us_per_login", decimals: 0 },
    Row { label: "4. server CPU during logins (% of its core)", ours: "ours.login.server_cpu", floor: None, peer: "peer.login.server_cpu", decimals: 0 },
    Row { label: "4. load generator CPU during logins (% of its core)", ours: "ours.login.loadgen_cpu", floor: None, peer: "peer.login.loadgen_cpu", decimals: 0 },
    Row { label: "6a. peak RSS, VmHWM (MiB)", ours: "ours.rss_peak_mib", floor: Some("floor.rss_peak_mib"), peer: "peer.rss_peak_mib", decimals: 1 },
    Row { label: "6b. start-up, spawn to first 200 (ms)", ours: "ours.startup_ms", floor: Some("floor.startup_ms"), peer: "peer.startup_ms", decimals: 1 },
];

pub fn run(args: &Args, file: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    let values: HashMap<&str, &str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let num = |key: &str| values.get(key).and_then(|v| v.parse::<f64>().ok());
    let show = |v: Option<f64>, decimals: usize| match v {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        _ => "–".to_string(),
    };
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() => format!("{:.2}", a / b),
        _ => "–".to_string(),
    };
    let title = args.opt("title").unwrap_or_default();
    if !title.is_empty() {
        println!("{title}\n");
    }
    println!("| workload | oidc-bff | floor | express-openid-connect | ours/floor | ours/peer |");
    println!("|---|---:|---:|---:|---:|---:|");
    for row in ROWS {
        let ours = num(row.ours);
        let floor = row.floor.and_then(num);
        let peer = num(row.peer);
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            row.label,
            show(ours, row.decimals),
            show(floor, row.decimals),
            show(peer, row.decimals),
            ratio(ours, floor),
            ratio(ours, peer),
        );
    }
    for note in values
        .iter()
        .filter(|(k, _)| k.starts_with("note."))
        .collect::<std::collections::BTreeMap<_, _>>()
    {
        println!("\n- {}", note.1);
    }
    Ok(())
}
