//! `loadgen soak`: mixed traffic for `--secs` seconds: logins, API calls with valid, expired,
//! tampered and missing session cookies, and bad callbacks (no state, unknown state, garbage
//! token, a body far over the form limit, JSON instead of a form). Every answer is checked
//! against the status the app must give; 5xx answers and RSS growth after the warm-up decide
//! the verdict.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hyper::Method;

use crate::args::Args;
use crate::http::{Conn, COOKIE_HEADER};
use crate::login::{self, Minter, Target};
use crate::stats::status_mib;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Op {
    Login,
    ApiValid,
    ApiExpired,
    ApiTampered,
    ApiNoCookie,
    CallbackMissingState,
    CallbackUnknownState,
    CallbackGarbageToken,
    CallbackOversized,
    CallbackJson,
}

/// Relative frequency of each operation.
const MIX: &[(Op, u32)] = &[
    (Op::Login, 10),
    (Op::ApiValid, 40),
    (Op::ApiExpired, 10),
    (Op::ApiTampered, 10),
    (Op::ApiNoCookie, 5),
    (Op::CallbackMissingState, 5),
    (Op::CallbackUnknownState, 5),
    (Op::CallbackGarbageToken, 5),
    (Op::CallbackOversized, 5),
    (Op::CallbackJson, 5),
];

#[derive(Default, Clone)]
struct Tally {
    ops: u64,
    requests: u64,
    expected: u64,
    unexpected: u64,
    server_errors: u64,
    transport_errors: u64,
    /// Status (or error text) of the first few unexpected answers.
    examples: Vec<String>,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.ops += other.ops;
        self.requests += other.requests;
        self.expected += other.expected;
        self.unexpected += other.unexpected;
        self.server_errors += other.server_errors;
        self.transport_errors += other.transport_errors;
        for e in &other.examples {
            if self.examples.len() < 5 {
                self.examples.push(e.clone());
            }
        }
    }
}

/// Session cookies from the soak's own logins, with the time they were obtained (and so last
/// renewed: the soak never stores a renewed cookie).
#[derive(Default)]
struct Cookies {
    fresh: VecDeque<(Instant, String)>,
    aged: VecDeque<String>,
}

struct Shared {
    cookies: Mutex<Cookies>,
    idle: Duration,
    tallies: Mutex<BTreeMap<Op, Tally>>,
}

impl Shared {
    fn remember(&self, session: String) {
        let Ok(mut c) = self.cookies.lock() else { return };
        let now = Instant::now();
        // Keep at most about 20 new cookies a second, so the pool stays small at any rate.
        if c.fresh.back().is_some_and(|(t, _)| now.duration_since(*t) < Duration::from_millis(50)) {
            return;
        }
        c.fresh.push_back((now, session));
        let expired_after = self.idle + Duration::from_secs(2);
        while c.fresh.front().is_some_and(|(t, _)| now.duration_since(*t) > expired_after) {
            if let Some((_, old)) = c.fresh.pop_front() {
                c.aged.push_back(old);
                if c.aged.len() > 256 {
                    c.aged.pop_front();
                }
            }
        }
    }

    /// A cookie well inside its idle window.
    fn valid(&self, pick: u64) -> Option<String> {
        let c = self.cookies.lock().ok()?;
        let now = Instant::now();
        let young = c
            .fresh
            .iter()
            .rev()
            .take_while(|(t, _)| now.duration_since(*t) < self.idle / 2)
            .count();
        if young == 0 {
            return None;
        }
        let index = c.fresh.len() - 1 - (pick as usize % young);
        Some(c.fresh[index].1.clone())
    }

    /// A cookie whose idle window has passed.
    fn expired(&self, pick: u64) -> Option<String> {
        let c = self.cookies.lock().ok()?;
        if c.aged.is_empty() {
            return None;
        }
        Some(c.aged[pick as usize % c.aged.len()].clone())
    }
}

/// A small xorshift generator: the mix needs no cryptographic randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn op(&mut self) -> Op {
        let total: u32 = MIX.iter().map(|(_, w)| w).sum();
        let mut roll = (self.next() % total as u64) as u32;
        for (op, weight) in MIX {
            if roll < *weight {
                return *op;
            }
            roll -= weight;
        }
        Op::ApiValid
    }
}

pub async fn run(args: &Args) -> Result<(), String> {
    let target = Target::from_args(args)?;
    let minter = Minter::from_args(args)?;
    let secs: f64 = args.or("secs", 600.0)?;
    let warmup: f64 = args.or("warmup-secs", 30.0)?;
    let concurrency: usize = args.or("concurrency", 16)?;
    let rate: f64 = args.or("rate", 0.0)?;
    let idle = Duration::from_secs(args.or("idle-secs", 20)?);
    let oversize = args.or("oversize-kib", 100usize)? * 1024;
    let max_growth_pct: f64 = args.or("max-growth-pct", 10.0)?;
    let server_pid = args.opt("server-pid");
    let shared = Arc::new(Shared {
        cookies: Mutex::new(Cookies::default()),
        idle,
        tallies: Mutex::new(BTreeMap::new()),
    });

    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(secs);
    let mut workers = Vec::new();
    for i in 0..concurrency {
        let target = target.clone();
        let minter = minter.clone();
        let shared = shared.clone();
        workers.push(tokio::spawn(async move {
            let mut conn = match Conn::new(&target.base) {
                Ok(c) => c,
                Err(_) => return,
            };
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((i as u64 + 1) * 0x1000_0001));
            let mut pace = (rate > 0.0).then(|| {
                let mut t = tokio::time::interval(Duration::from_secs_f64(concurrency as f64 / rate));
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            let mut local: BTreeMap<Op, Tally> = BTreeMap::new();
            let mut last_flush = Instant::now();
            while Instant::now() < deadline {
                if let Some(p) = pace.as_mut() {
                    p.tick().await;
                }
                let op = rng.op();
                let (op, outcome) =
                    one(op, &mut conn, &target, &minter, &shared, &mut rng, oversize).await;
                let tally = local.entry(op).or_default();
                tally.ops += 1;
                for (status, expected) in outcome {
                    tally.requests += 1;
                    match status {
                        Ok(code) => {
                            if code >= 500 {
                                tally.server_errors += 1;
                            }
                            if expected.contains(&code) {
                                tally.expected += 1;
                            } else {
                                tally.unexpected += 1;
                                if tally.examples.len() < 3 {
                                    tally.examples.push(format!("{code} (expected {expected:?})"));
                                }
                            }
                        }
                        Err(e) => {
                            tally.requests -= 1;
                            tally.transport_errors += 1;
                            if tally.examples.len() < 3 {
                                tally.examples.push(e);
                            }
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                }
                if last_flush.elapsed() > Duration::from_secs(1) {
                    flush(&shared, &mut local);
                    last_flush = Instant::now();
                }
            }
            flush(&shared, &mut local);
        }));
    }

    // Progress every 10 s, RSS at the end of the warm-up and at the last second under load
    // (after the traffic stops, freed connection buffers would flatter the figure).
    let mut rss_start = None;
    let mut rss_last = None;
    let mut rss_max: f64 = 0.0;
    let mut last_requests = 0u64;
    let mut last_tick = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut next_report = 10u64;
    loop {
        ticker.tick().await;
        let elapsed = started.elapsed().as_secs_f64();
        let rss = server_pid.as_deref().and_then(|p| status_mib(p, "VmRSS"));
        if let Some(r) = rss {
            rss_max = rss_max.max(r);
            rss_last = Some(r);
        }
        if rss_start.is_none() && elapsed >= warmup {
            rss_start = rss;
            println!("# warm-up over at {elapsed:.0} s: RSS {:.1} MiB", rss.unwrap_or(f64::NAN));
        }
        if elapsed as u64 >= next_report || Instant::now() >= deadline {
            next_report += 10;
            let total = totals(&shared);
            let rps = (total.requests - last_requests) as f64 / last_tick.elapsed().as_secs_f64();
            last_requests = total.requests;
            last_tick = Instant::now();
            println!(
                "# {elapsed:5.0} s  requests {:>9}  ({rps:7.0}/s)  5xx {}  unexpected {}  transport errors {}  RSS {:.1} MiB",
                total.requests,
                total.server_errors,
                total.unexpected,
                total.transport_errors,
                rss.unwrap_or(f64::NAN)
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
    let rss_after = server_pid.as_deref().and_then(|p| status_mib(p, "VmRSS"));
    let rss_end = rss_last;
    let hwm = server_pid.as_deref().and_then(|p| status_mib(p, "VmHWM"));
    let total = totals(&shared);
    let growth = match (rss_start, rss_end) {
        (Some(a), Some(b)) if a > 0.0 => Some((b - a) / a * 100.0),
        _ => None,
    };
    let mut lines = vec![
        format!("soak.secs={wall:.0}"),
        format!("soak.requests={}", total.requests),
        format!("soak.rps={:.0}", total.requests as f64 / wall),
        format!("soak.5xx={}", total.server_errors),
        format!("soak.unexpected={}", total.unexpected),
        format!("soak.transport_errors={}", total.transport_errors),
    ];
    let fmt = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.1}"));
    lines.push(format!("soak.rss_start_mib={}", fmt(rss_start)));
    lines.push(format!("soak.rss_after_traffic_mib={}", fmt(rss_after)));
    lines.push(format!("soak.rss_end_mib={}", fmt(rss_end)));
    lines.push(format!("soak.rss_max_mib={rss_max:.1}"));
    lines.push(format!("soak.rss_hwm_mib={}", fmt(hwm)));
    lines.push(format!("soak.rss_growth_pct={}", fmt(growth)));
    if let Ok(tallies) = shared.tallies.lock() {
        for (op, t) in tallies.iter() {
            lines.push(format!(
                "soak.op.{op:?}=ops {} requests {} expected {} unexpected {} 5xx {} transport_errors {}{}",
                t.ops,
                t.requests,
                t.expected,
                t.unexpected,
                t.server_errors,
                t.transport_errors,
                if t.examples.is_empty() { String::new() } else { format!(" e.g. {}", t.examples.join(" | ")) }
            ));
        }
    }
    let pass = total.server_errors == 0 && growth.is_some_and(|g| g < max_growth_pct);
    lines.push(format!("soak.verdict={}", if pass { "PASS" } else { "FAIL" }));
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
    } else {
        Err("soak failed: 5xx answers or RSS growth over the limit (see above)".into())
    }
}

fn flush(shared: &Shared, local: &mut BTreeMap<Op, Tally>) {
    if let Ok(mut all) = shared.tallies.lock() {
        for (op, t) in local.iter() {
            all.entry(*op).or_default().add(t);
        }
    }
    local.clear();
}

fn totals(shared: &Shared) -> Tally {
    let mut total = Tally::default();
    if let Ok(all) = shared.tallies.lock() {
        for t in all.values() {
            total.add(t);
        }
    }
    total
}

type Outcome = Vec<(Result<u16, String>, &'static [u16])>;

/// Runs one operation; returns the operation actually done (a missing cookie pool turns an API
/// call into a login) and each request's status with the statuses that are right for it.
async fn one(
    op: Op,
    conn: &mut Conn,
    target: &Target,
    minter: &Minter,
    shared: &Shared,
    rng: &mut Rng,
    oversize: usize,
) -> (Op, Outcome) {
    const API: &str = "/api/hello";
    let api_headers = |cookie: &str| -> Vec<(String, String)> {
        let mut h = vec![
            ("sec-fetch-mode".to_string(), "cors".to_string()),
            ("sec-fetch-dest".to_string(), "empty".to_string()),
            ("accept".to_string(), "*/*".to_string()),
        ];
        if !cookie.is_empty() {
            h.push((COOKIE_HEADER.to_string(), cookie.to_string()));
        }
        h
    };
    let status = |r: Result<crate::http::Reply, String>| r.map(|r| r.status);
    let pick = rng.next();
    match op {
        Op::Login => login_op(conn, target, minter, shared, pick).await,
        Op::ApiValid | Op::ApiTampered => {
            let Some(cookie) = shared.valid(pick) else {
                return login_op(conn, target, minter, shared, pick).await;
            };
            let (cookie, expect): (String, &'static [u16]) = if op == Op::ApiValid {
                (cookie, &[200])
            } else {
                (tamper(&cookie, rng.next()), &[401])
            };
            let h = api_headers(&cookie);
            let h: Vec<(&str, &str)> = h.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            (op, vec![(status(conn.get(API, &h).await), expect)])
        }
        Op::ApiExpired => {
            let Some(cookie) = shared.expired(pick) else {
                return Box::pin(one(Op::ApiValid, conn, target, minter, shared, rng, oversize)).await;
            };
            let h = api_headers(&cookie);
            let h: Vec<(&str, &str)> = h.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            (op, vec![(status(conn.get(API, &h).await), &[401])])
        }
        Op::ApiNoCookie => {
            let h = api_headers("");
            let h: Vec<(&str, &str)> = h.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            (op, vec![(status(conn.get(API, &h).await), &[401])])
        }
        Op::CallbackMissingState => {
            let body = "id_token=abc.def.ghi".to_string();
            (op, vec![(status(conn.post_form(&target.callback_path, &[], body).await), &[400])])
        }
        Op::CallbackUnknownState => {
            let state = URL_SAFE_NO_PAD.encode(pick.to_le_bytes().repeat(4));
            let body = format!("id_token=abc.def.ghi&state={state}");
            (op, vec![(status(conn.post_form(&target.callback_path, &[], body).await), &[400])])
        }
        Op::CallbackGarbageToken => {
            let started = match login::start(conn, target).await {
                Ok(s) => s,
                Err(e) => return (op, vec![(Err(e), &[302])]),
            };
            let garbage = match pick % 3 {
                0 => "not-a-token".to_string(),
                1 => format!("{}.{}.{}", "eyJhbGciOiJub25lIn0", "e30", ""),
                _ => "A".repeat(2000),
            };
            let body = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("id_token", &garbage)
                .append_pair("state", &started.state)
                .finish();
            let reply = conn
                .post_form(&target.callback_path, &[(COOKIE_HEADER, &started.cookies)], body)
                .await;
            (op, vec![(Ok(302), &[302]), (status(reply), &[400, 401])])
        }
        Op::CallbackOversized => {
            let body = format!("state=abc&id_token={}", "x".repeat(oversize));
            (op, vec![(status(conn.post_form(&target.callback_path, &[], body).await), &[413])])
        }
        Op::CallbackJson => {
            let reply = conn
                .send(
                    Method::POST,
                    &target.callback_path,
                    &[("content-type", "application/json")],
                    Some(r#"{"id_token":"x","state":"y"}"#.to_string()),
                )
                .await;
            (op, vec![(status(reply), &[400])])
        }
    }
}

async fn login_op(
    conn: &mut Conn,
    target: &Target,
    minter: &Minter,
    shared: &Shared,
    pick: u64,
) -> (Op, Outcome) {
    match login::login(conn, target, minter, pick % 1000).await {
        Ok(done) => {
            shared.remember(done.session);
            (Op::Login, vec![(Ok(302), &[302]), (Ok(303), &[303])])
        }
        Err(e) => {
            // The failing step's status is in the message; count it as one unexpected answer.
            let code = e
                .split_whitespace()
                .find_map(|w| w.trim_end_matches(':').parse::<u16>().ok());
            match code {
                Some(code) => (Op::Login, vec![(Ok(code), &[303])]),
                None => (Op::Login, vec![(Err(e), &[303])]),
            }
        }
    }
}

/// A session cookie that must not decrypt: one character changed, cut short, or replaced.
fn tamper(cookie: &str, pick: u64) -> String {
    let Some((name, value)) = cookie.split_once('=') else {
        return cookie.to_string();
    };
    let value: String = match pick % 3 {
        0 => {
            let mut bytes = value.as_bytes().to_vec();
            let i = (pick as usize / 3) % bytes.len().max(1);
            if let Some(b) = bytes.get_mut(i) {
                *b = if *b == b'A' { b'B' } else { b'A' };
            }
            String::from_utf8(bytes).unwrap_or_default()
        }
        1 => value[..value.len() / 2].to_string(),
        _ => URL_SAFE_NO_PAD.encode(pick.to_le_bytes().repeat(100)),
    };
    format!("{name}={value}")
}
