//! The counts per operation and per instance (statuses, latencies, wrong answers), the pool
//! of live session cookies the workers share, and the totals the progress lines print.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::ops::Op;
use super::verdict::{Answer, Outage, Rule, Verdict, LOGIN_CALLBACK};

/// How long a logout may take to reach the other instances (the README: within a second)
/// before its cookie is used to check that they refuse it.
const PROPAGATION: Duration = Duration::from_millis(1500);

#[derive(Default, Clone)]
pub(super) struct Tally {
    pub(super) ops: u64,
    pub(super) requests: u64,
    pub(super) expected: u64,
    pub(super) unexpected: u64,
    pub(super) server_errors: u64,
    /// 5xx answers outside the declared outage window (all of them when none is declared).
    pub(super) server_errors_outside: u64,
    /// 503s the README documents, inside the window: login pages, and sessions after the grace.
    pub(super) documented_page: u64,
    pub(super) documented_session: u64,
    pub(super) transport_errors: u64,
    /// Completed logins, and those completed after the outage window (the recovery).
    pub(super) logins: u64,
    pub(super) logins_after: u64,
    /// First and last documented 503, in seconds on the soak's clock.
    pub(super) first_503: Option<f64>,
    pub(super) last_503: Option<f64>,
    /// Time to answer, in seconds: the documented 503s (sum and slowest, to tell a quick
    /// refusal from a wait on Redis), and the slowest answer of all.
    pub(super) secs_503: f64,
    pub(super) slowest_503: f64,
    pub(super) slowest: f64,
    /// The first few unexpected answers.
    pub(super) examples: Vec<String>,
}

impl Tally {
    pub(super) fn add(&mut self, other: &Tally) {
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

    pub(super) fn note(&mut self, a: &Answer, verdict: &Verdict, outage: Option<&Outage>) {
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

pub(super) fn min_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

pub(super) fn max_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// Session cookies from the soak's own logins, with the time they were obtained (and so last
/// renewed: the soak never stores a renewed cookie).
#[derive(Default)]
pub(super) struct Cookies {
    pub(super) fresh: VecDeque<(Instant, String)>,
    pub(super) aged: VecDeque<String>,
    /// Cookies of sessions logged out outside the outage window, with the logout's time
    /// (and whether it came before the outage).
    pub(super) logged_out: VecDeque<(Instant, bool, String)>,
    /// Sessions set aside for a later logout, so that logouts go on while logins cannot.
    pub(super) spare: VecDeque<String>,
}

/// How many sessions wait for their logout: enough for the first seconds of an outage.
pub(super) const SPARE: usize = 16;

/// Per operation and per instance.
#[derive(Default)]
pub(super) struct Tallies {
    pub(super) ops: BTreeMap<Op, Tally>,
    pub(super) instances: Vec<Tally>,
}

pub(super) struct Shared {
    pub(super) cookies: Mutex<Cookies>,
    pub(super) idle: Duration,
    pub(super) tallies: Mutex<Tallies>,
}

impl Shared {
    pub(super) fn remember(&self, session: String) {
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
    pub(super) fn valid(&self, pick: u64) -> Option<String> {
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
    pub(super) fn expired(&self, pick: u64) -> Option<String> {
        let c = self.cookies.lock().ok()?;
        if c.aged.is_empty() {
            return None;
        }
        Some(c.aged[pick as usize % c.aged.len()].clone())
    }

    /// Sets `new` aside and hands out the oldest session waiting for its logout: once
    /// `SPARE` are waiting, or at once when there is no new one (logins fail).
    pub(super) fn spare(&self, new: Option<String>) -> Option<String> {
        let mut c = self.cookies.lock().ok()?;
        let refill = new.is_some();
        c.spare.extend(new);
        if refill && c.spare.len() <= SPARE {
            return None;
        }
        c.spare.pop_front()
    }

    pub(super) fn logged_out(&self, session: String, before_outage: bool) {
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
    pub(super) fn revoked(&self, pick: u64) -> Option<(bool, String)> {
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

pub(super) fn mib_list(values: &[Option<f64>]) -> String {
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

pub(super) fn flush(shared: &Shared, local: &mut Tallies) {
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

pub(super) fn totals(shared: &Shared) -> Tally {
    let mut total = Tally::default();
    if let Ok(all) = shared.tallies.lock() {
        for t in all.instances.iter() {
            total.add(t);
        }
    }
    total
}
