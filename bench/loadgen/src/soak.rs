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

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hyper::Method;

use crate::args::Args;
use crate::http::{Conn, Reply, COOKIE_HEADER};
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
    Logout,
    ApiLoggedOut,
    /// `ApiLoggedOut` after the outage window, with a cookie logged out before it.
    ApiLoggedOutBeforeOutage,
}

/// Relative frequency of each operation; `Logout` and `ApiLoggedOut` get `--logouts` each.
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

/// How long a logout may take to reach the other instances (the README: within a second)
/// before its cookie is used to check that they refuse it.
const PROPAGATION: Duration = Duration::from_millis(1500);

/// What the README allows in place of the normal answer while the store is down.
#[derive(Clone, Copy, PartialEq)]
enum Rule {
    /// Nothing: the answer does not depend on the store.
    Never,
    /// `/login` and `/callback`: 503 with the error page.
    Page,
    /// A request with a session: 503 JSON once the instance's copy of the ended sessions has
    /// gone unconfirmed for longer than `REDIS_SYNC_GRACE_SECS`, until the store is back.
    Session,
}

/// The declared store outage, in seconds on the soak's clock.
#[derive(Clone, Copy)]
struct Outage {
    from: f64,
    /// End of the outage plus the time allowed for reconnecting.
    until: f64,
    /// When sessions may start answering 503: `from` plus the app's sync grace.
    sessions_from: f64,
    /// Tolerance for the few milliseconds between the soak's clock and the script's.
    slack: f64,
}

impl Outage {
    fn from_args(args: &Args) -> Result<Option<Self>, String> {
        let Some(from) = args.opt("outage-from-secs") else {
            return Ok(None);
        };
        let from: f64 = from
            .parse()
            .map_err(|_| "--outage-from-secs: not a number")?;
        let secs: f64 = args.or("outage-secs", 30.0)?;
        let recovery: f64 = args.or("recovery-secs", 5.0)?;
        let grace: f64 = args.or("sync-grace-secs", 30.0)?;
        Ok(Some(Self {
            from,
            until: from + secs + recovery,
            sessions_from: from + grace,
            slack: args.or("outage-slack-secs", 1.0)?,
        }))
    }

    /// Whether a request sent at `sent` and answered at `done` overlaps the window.
    fn covers(&self, sent: f64, done: f64) -> bool {
        done >= self.from - self.slack && sent <= self.until
    }

    /// Whether a 503 is documented for a request of this rule at that time.
    fn allows(&self, rule: Rule, sent: f64, done: f64) -> bool {
        match rule {
            Rule::Never => false,
            Rule::Page => self.covers(sent, done),
            Rule::Session => done >= self.sessions_from - self.slack && sent <= self.until,
        }
    }
}

/// One request and its answer, with what the answer should be.
struct Answer {
    instance: usize,
    what: &'static str,
    /// Seconds on the soak's clock when the request went out and when its answer was in.
    sent: f64,
    done: f64,
    reply: Result<Reply, String>,
    expect: &'static [u16],
    rule: Rule,
    /// Something wrong beyond the status (a redirect without `state`, a 303 without a session).
    problem: Option<String>,
}

const LOGIN_CALLBACK: &str = "POST /callback (login)";

enum Verdict {
    Expected,
    Documented(Rule),
    Wrong(String),
    Transport(String),
}

fn judge(a: &Answer, outage: Option<&Outage>, session_cookie: &str) -> Verdict {
    let reply = match &a.reply {
        Ok(reply) => reply,
        Err(error) => return Verdict::Transport(format!("{} at {:.1}s: {error}", a.what, a.sent)),
    };
    if let Some(problem) = &a.problem {
        return Verdict::Wrong(format!(
            "{} {} at {:.1}s: {problem}",
            a.what, reply.status, a.sent
        ));
    }
    if a.expect.contains(&reply.status) {
        return Verdict::Expected;
    }
    if reply.status == 503 && outage.is_some_and(|o| o.allows(a.rule, a.sent, a.done)) {
        // The documented shape: a page for /login and /callback, JSON for a script's API
        // call, and the session cookie kept for when the store is back.
        let kind = reply.content_type.as_deref().unwrap_or("");
        let shaped = match a.rule {
            Rule::Page => kind.starts_with("text/html"),
            Rule::Session => kind.contains("json"),
            Rule::Never => false,
        };
        let drops = reply
            .set_cookies
            .iter()
            .any(|(n, v)| n == session_cookie && v.is_empty());
        if shaped && !drops {
            return Verdict::Documented(a.rule);
        }
        return Verdict::Wrong(format!(
            "{} 503 at {:.1}s as {kind}{}",
            a.what,
            a.sent,
            if drops {
                ", dropping the session cookie"
            } else {
                ""
            }
        ));
    }
    Verdict::Wrong(format!(
        "{} {} at {:.1}s (expected {:?})",
        a.what, reply.status, a.sent, a.expect
    ))
}

#[derive(Default, Clone)]
struct Tally {
    ops: u64,
    requests: u64,
    expected: u64,
    unexpected: u64,
    server_errors: u64,
    /// 5xx answers outside the declared outage window (all of them when none is declared).
    server_errors_outside: u64,
    /// 503s the README documents, inside the window: login pages, and sessions after the grace.
    documented_page: u64,
    documented_session: u64,
    transport_errors: u64,
    /// Completed logins, and those completed after the outage window (the recovery).
    logins: u64,
    logins_after: u64,
    /// First and last documented 503, in seconds on the soak's clock.
    first_503: Option<f64>,
    last_503: Option<f64>,
    /// Time to answer, in seconds: the documented 503s (sum and slowest, to tell a quick
    /// refusal from a wait on Redis), and the slowest answer of all.
    secs_503: f64,
    slowest_503: f64,
    slowest: f64,
    /// The first few unexpected answers.
    examples: Vec<String>,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.ops += other.ops;
        self.requests += other.requests;
        self.expected += other.expected;
        self.unexpected += other.unexpected;
        self.server_errors += other.server_errors;
        self.server_errors_outside += other.server_errors_outside;
        self.documented_page += other.documented_page;
        self.documented_session += other.documented_session;
        self.transport_errors += other.transport_errors;
        self.logins += other.logins;
        self.logins_after += other.logins_after;
        self.first_503 = min_of(self.first_503, other.first_503);
        self.last_503 = max_of(self.last_503, other.last_503);
        self.secs_503 += other.secs_503;
        self.slowest_503 = self.slowest_503.max(other.slowest_503);
        self.slowest = self.slowest.max(other.slowest);
        for e in &other.examples {
            if self.examples.len() < 5 {
                self.examples.push(e.clone());
            }
        }
    }

    fn note(&mut self, a: &Answer, verdict: &Verdict, outage: Option<&Outage>) {
        match verdict {
            Verdict::Transport(e) => {
                self.transport_errors += 1;
                if self.examples.len() < 3 {
                    self.examples.push(e.clone());
                }
                return;
            }
            Verdict::Expected => self.expected += 1,
            Verdict::Documented(rule) => {
                if *rule == Rule::Session {
                    self.documented_session += 1;
                } else {
                    self.documented_page += 1;
                }
                self.first_503 = min_of(self.first_503, Some(a.sent));
                self.last_503 = max_of(self.last_503, Some(a.done));
                self.secs_503 += a.done - a.sent;
                self.slowest_503 = self.slowest_503.max(a.done - a.sent);
            }
            Verdict::Wrong(e) => {
                self.unexpected += 1;
                if self.examples.len() < 3 {
                    self.examples.push(e.clone());
                }
            }
        }
        self.requests += 1;
        self.slowest = self.slowest.max(a.done - a.sent);
        let status = a.reply.as_ref().map_or(0, |r| r.status);
        if status >= 500 {
            self.server_errors += 1;
            if !outage.is_some_and(|o| o.covers(a.sent, a.done)) {
                self.server_errors_outside += 1;
            }
        }
        if a.what == LOGIN_CALLBACK && matches!(verdict, Verdict::Expected) {
            self.logins += 1;
            if outage.is_some_and(|o| a.sent > o.until) {
                self.logins_after += 1;
            }
        }
    }
}

fn min_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn max_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// Session cookies from the soak's own logins, with the time they were obtained (and so last
/// renewed: the soak never stores a renewed cookie).
#[derive(Default)]
struct Cookies {
    fresh: VecDeque<(Instant, String)>,
    aged: VecDeque<String>,
    /// Cookies of sessions logged out outside the outage window, with the logout's time
    /// (and whether it came before the outage).
    logged_out: VecDeque<(Instant, bool, String)>,
    /// Sessions set aside for a later logout, so that logouts go on while logins cannot.
    spare: VecDeque<String>,
}

/// How many sessions wait for their logout: enough for the first seconds of an outage.
const SPARE: usize = 16;

/// Per operation and per instance.
#[derive(Default)]
struct Tallies {
    ops: BTreeMap<Op, Tally>,
    instances: Vec<Tally>,
}

struct Shared {
    cookies: Mutex<Cookies>,
    idle: Duration,
    tallies: Mutex<Tallies>,
}

impl Shared {
    fn remember(&self, session: String) {
        let Ok(mut c) = self.cookies.lock() else {
            return;
        };
        let now = Instant::now();
        // Keep at most about 20 new cookies a second, so the pool stays small at any rate.
        if c.fresh
            .back()
            .is_some_and(|(t, _)| now.duration_since(*t) < Duration::from_millis(50))
        {
            return;
        }
        c.fresh.push_back((now, session));
        let expired_after = self.idle + Duration::from_secs(2);
        while c
            .fresh
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > expired_after)
        {
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

    /// Sets `new` aside and hands out the oldest session waiting for its logout: once
    /// `SPARE` are waiting, or at once when there is no new one (logins fail).
    fn spare(&self, new: Option<String>) -> Option<String> {
        let mut c = self.cookies.lock().ok()?;
        let refill = new.is_some();
        c.spare.extend(new);
        if refill && c.spare.len() <= SPARE {
            return None;
        }
        c.spare.pop_front()
    }

    fn logged_out(&self, session: String, before_outage: bool) {
        let Ok(mut c) = self.cookies.lock() else {
            return;
        };
        c.logged_out
            .push_back((Instant::now(), before_outage, session));
        // About a minute of logouts at the soak's default rate (~28 a second).
        if c.logged_out.len() > 2048 {
            c.logged_out.pop_front();
        }
    }

    /// A logged-out cookie whose logout had time to reach every instance, and still inside
    /// its idle window: a 401 for it then proves the logout, not the idle limit. Kept nearly
    /// as long as that window, so that logouts from just before an outage are tried again
    /// after it (the instances must still refuse them once Redis came back empty).
    fn revoked(&self, pick: u64) -> Option<(bool, String)> {
        let mut c = self.cookies.lock().ok()?;
        let now = Instant::now();
        let keep = self
            .idle
            .saturating_sub(Duration::from_secs(5))
            .max(self.idle / 2);
        while c
            .logged_out
            .front()
            .is_some_and(|(t, _, _)| now.duration_since(*t) > keep)
        {
            c.logged_out.pop_front();
        }
        let ready = c
            .logged_out
            .iter()
            .take_while(|(t, _, _)| now.duration_since(*t) >= PROPAGATION)
            .count();
        (ready > 0).then(|| {
            let (_, before, cookie) = &c.logged_out[pick as usize % ready];
            (*before, cookie.clone())
        })
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

    fn op(&mut self, mix: &[(Op, u32)]) -> Op {
        let total: u32 = mix.iter().map(|(_, w)| w).sum();
        let mut roll = (self.next() % total as u64) as u32;
        for (op, weight) in mix {
            if roll < *weight {
                return *op;
            }
            roll -= weight;
        }
        Op::ApiValid
    }
}

/// What every worker shares and does not change.
struct Ctx {
    targets: Vec<Target>,
    minter: Minter,
    shared: Shared,
    outage: Option<Outage>,
    oversize: usize,
    started: Instant,
}

impl Ctx {
    fn secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// One worker: a keep-alive connection to each instance.
struct Worker {
    conns: Vec<Conn>,
    rng: Rng,
}

impl Worker {
    /// An instance picked at random for the next request.
    fn instance(&mut self) -> usize {
        (self.rng.next() % self.conns.len() as u64) as usize
    }
}

/// One request of an operation: what to send and which answers are right for it.
struct Request<'a> {
    what: &'static str,
    method: Method,
    path: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: Option<String>,
    expect: &'static [u16],
    rule: Rule,
}

impl<'a> Request<'a> {
    fn get(what: &'static str, path: &'a str, expect: &'static [u16], rule: Rule) -> Self {
        Self {
            what,
            method: Method::GET,
            path,
            headers: &[],
            body: None,
            expect,
            rule,
        }
    }

    fn post(
        what: &'static str,
        path: &'a str,
        body: Option<String>,
        expect: &'static [u16],
        rule: Rule,
    ) -> Self {
        Self {
            what,
            method: Method::POST,
            path,
            headers: &[],
            body,
            expect,
            rule,
        }
    }

    fn headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }
}

/// Sends the request to an instance picked at random (several instances behave as one app
/// behind a load balancer without sticky sessions) and times it on the soak's clock.
async fn send(ctx: &Ctx, w: &mut Worker, r: Request<'_>) -> Answer {
    let instance = w.instance();
    let sent = ctx.secs();
    let reply = w.conns[instance]
        .send(r.method, r.path, r.headers, r.body)
        .await;
    Answer {
        instance,
        what: r.what,
        sent,
        done: ctx.secs(),
        reply,
        expect: r.expect,
        rule: r.rule,
        problem: None,
    }
}

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

fn mib_list(values: &[Option<f64>]) -> String {
    let list: Vec<String> = values
        .iter()
        .map(|v| v.map_or("n/a".to_string(), |v| format!("{v:.1}")))
        .collect();
    if list.is_empty() {
        "n/a".to_string()
    } else {
        list.join("/")
    }
}

fn flush(shared: &Shared, local: &mut Tallies) {
    if let Ok(mut all) = shared.tallies.lock() {
        for (op, t) in local.ops.iter() {
            all.ops.entry(*op).or_default().add(t);
        }
        for (i, t) in local.instances.iter_mut().enumerate() {
            all.instances[i].add(t);
            *t = Tally::default();
        }
    }
    local.ops.clear();
}

fn totals(shared: &Shared) -> Tally {
    let mut total = Tally::default();
    if let Ok(all) = shared.tallies.lock() {
        for t in all.instances.iter() {
            total.add(t);
        }
    }
    total
}

const API: &str = "/api/hello";

/// The headers of the page's `fetch`, with a cookie when there is one.
fn api_headers(cookie: &str) -> Vec<(&str, &str)> {
    let mut h = vec![
        ("sec-fetch-mode", "cors"),
        ("sec-fetch-dest", "empty"),
        ("accept", "*/*"),
    ];
    if !cookie.is_empty() {
        h.push((COOKIE_HEADER, cookie));
    }
    h
}

/// Runs one operation; returns the operation actually done (a missing cookie pool turns an API
/// call into a login) and each request with the statuses that are right for it.
async fn one(op: Op, ctx: &Ctx, w: &mut Worker) -> (Op, Vec<Answer>) {
    let pick = w.rng.next();
    let callback = ctx.targets[0].callback_path.as_str();
    // A 503 on /callback is documented whatever the callback carries; the bad ones below are
    // refused before the store is asked, so they keep their 400/401/413 in practice.
    let bad_callback =
        |what, body: String, expect| Request::post(what, callback, Some(body), expect, Rule::Page);
    match op {
        Op::Login => (Op::Login, login_op(ctx, w, pick, true).await.0),
        Op::ApiValid | Op::ApiTampered => {
            let Some(cookie) = ctx.shared.valid(pick) else {
                return (Op::Login, login_op(ctx, w, pick, true).await.0);
            };
            let (cookie, r) = if op == Op::ApiValid {
                (
                    cookie,
                    Request::get("GET /api/hello", API, &[200], Rule::Session),
                )
            } else {
                // A cookie that does not decrypt is no session, store or not.
                let r = Request::get("GET /api/hello (tampered)", API, &[401], Rule::Never);
                (tamper(&cookie, w.rng.next()), r)
            };
            let headers = api_headers(&cookie);
            (op, vec![send(ctx, w, r.headers(&headers)).await])
        }
        Op::ApiExpired => {
            let Some(cookie) = ctx.shared.expired(pick) else {
                return Box::pin(one(Op::ApiValid, ctx, w)).await;
            };
            // The idle limit is checked before the store is asked.
            let headers = api_headers(&cookie);
            let r = Request::get("GET /api/hello (idle)", API, &[401], Rule::Never);
            (op, vec![send(ctx, w, r.headers(&headers)).await])
        }
        Op::ApiNoCookie => {
            let headers = api_headers("");
            let r = Request::get("GET /api/hello (no cookie)", API, &[401], Rule::Never);
            (op, vec![send(ctx, w, r.headers(&headers)).await])
        }
        Op::ApiLoggedOut | Op::ApiLoggedOutBeforeOutage => {
            let Some((before, cookie)) = ctx.shared.revoked(pick) else {
                return Box::pin(one(Op::Logout, ctx, w)).await;
            };
            // Counted apart: a logout from before the outage, tried after it, when Redis came
            // back without it (no persistence) and only the instances' copies remember it.
            let after = ctx.outage.is_some_and(|o| ctx.secs() > o.until);
            let op = if before && after {
                Op::ApiLoggedOutBeforeOutage
            } else {
                op
            };
            let headers = api_headers(&cookie);
            let r = Request::get("GET /api/hello (logged out)", API, &[401], Rule::Session);
            (op, vec![send(ctx, w, r.headers(&headers)).await])
        }
        Op::Logout => {
            // Its own login, set aside (other workers must not use a cookie about to end); the
            // session logged out is an older one set aside the same way.
            let (mut answers, session) = login_op(ctx, w, pick, false).await;
            let Some(cookie) = ctx.shared.spare(session) else {
                return (op, answers);
            };
            let headers = [
                (COOKIE_HEADER, cookie.as_str()),
                ("sec-fetch-site", "same-origin"),
            ];
            // A logout always answers 303 and deletes the cookie; while the store is down it
            // cannot tell the other instances (documented), so only logouts outside the window
            // are checked on them later.
            let r = Request::post("POST /logout", "/logout", None, &[303], Rule::Never);
            let mut a = send(ctx, w, r.headers(&headers)).await;
            if let Ok(reply) = &a.reply {
                let session_cookie = &ctx.targets[0].session_cookie;
                let deleted = reply
                    .set_cookies
                    .iter()
                    .any(|(n, v)| n == session_cookie && v.is_empty());
                if reply.status == 303 && !deleted {
                    a.problem = Some("the session cookie was not deleted".into());
                }
                if reply.status == 303 && !ctx.outage.is_some_and(|o| o.covers(a.sent, a.done)) {
                    let before = ctx.outage.is_some_and(|o| a.done < o.from);
                    ctx.shared.logged_out(cookie, before);
                }
            }
            answers.push(a);
            (op, answers)
        }
        Op::CallbackMissingState => {
            let r = bad_callback(
                "POST /callback (no state)",
                "id_token=abc.def.ghi".into(),
                &[400],
            );
            (op, vec![send(ctx, w, r).await])
        }
        Op::CallbackUnknownState => {
            let state = URL_SAFE_NO_PAD.encode(pick.to_le_bytes().repeat(4));
            let body = format!("id_token=abc.def.ghi&state={state}");
            let r = bad_callback("POST /callback (unknown state)", body, &[400]);
            (op, vec![send(ctx, w, r).await])
        }
        Op::CallbackGarbageToken => {
            let (first, started) = login_start(ctx, w).await;
            let Some(started) = started else {
                return (op, vec![first]);
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
            let headers = [(COOKIE_HEADER, started.cookies.as_str())];
            let r = bad_callback("POST /callback (garbage token)", body, &[400, 401]);
            (op, vec![first, send(ctx, w, r.headers(&headers)).await])
        }
        Op::CallbackOversized => {
            let body = format!("state=abc&id_token={}", "x".repeat(ctx.oversize));
            let r = bad_callback("POST /callback (oversized)", body, &[413]);
            (op, vec![send(ctx, w, r).await])
        }
        Op::CallbackJson => {
            let headers = [("content-type", "application/json")];
            let body = r#"{"id_token":"x","state":"y"}"#.to_string();
            let r = bad_callback("POST /callback (JSON)", body, &[400]);
            (op, vec![send(ctx, w, r.headers(&headers)).await])
        }
    }
}

/// `GET /login` on a random instance, and the attempt it started.
async fn login_start(ctx: &Ctx, w: &mut Worker) -> (Answer, Option<login::Started>) {
    let path = ctx.targets[0].login_path.clone();
    let mut a = send(
        ctx,
        w,
        Request::get("GET /login", &path, &[302], Rule::Page),
    )
    .await;
    let started = match &a.reply {
        Ok(reply) if reply.status == 302 => match login::started_from(reply) {
            Ok(started) => Some(started),
            Err(e) => {
                a.problem = Some(e);
                None
            }
        },
        _ => None,
    };
    (a, started)
}

/// A whole login: `GET /login` on one instance, the token minted for its nonce, `POST
/// /callback` on one picked again: the attempt's cookie and `state` travel with the browser.
/// With `keep`, the new session goes to the pool the API calls use.
async fn login_op(
    ctx: &Ctx,
    w: &mut Worker,
    pick: u64,
    keep: bool,
) -> (Vec<Answer>, Option<String>) {
    let (first, started) = login_start(ctx, w).await;
    let Some(started) = started else {
        return (vec![first], None);
    };
    let claims = ctx.minter.template.claims(&started.nonce, pick % 1000);
    let Some(token) = ctx.minter.signer.sign(claims).await else {
        return (vec![first], None);
    };
    let headers = [(COOKIE_HEADER, started.cookies.as_str())];
    let path = ctx.targets[0].callback_path.clone();
    let body = Some(login::callback_body(&started, &token));
    let r = Request::post(LOGIN_CALLBACK, &path, body, &[303], Rule::Page);
    let mut second = send(ctx, w, r.headers(&headers)).await;
    let mut session = None;
    if let Ok(reply) = &second.reply {
        if reply.status == 303 {
            session = login::session_from(&ctx.targets[0], reply);
            if session.is_none() {
                second.problem = Some("303 without a session cookie".into());
            }
        }
    }
    if let (true, Some(s)) = (keep, &session) {
        ctx.shared.remember(s.clone());
    }
    (vec![first, second], session)
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
