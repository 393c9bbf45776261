//! The answer each request must get: the normal status, or during a declared store outage
//! (plus the recovery time) the documented 503.

use crate::args::Args;
use crate::http::Reply;

/// What the README allows in place of the normal answer while the store is down.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Rule {
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
pub(super) struct Outage {
    pub(super) from: f64,
    /// End of the outage plus the time allowed for reconnecting.
    pub(super) until: f64,
    /// When sessions may start answering 503: `from` plus the app's sync grace.
    pub(super) sessions_from: f64,
    /// Tolerance for the few milliseconds between the soak's clock and the script's.
    pub(super) slack: f64,
}

impl Outage {
    pub(super) fn from_args(args: &Args) -> Result<Option<Self>, String> {
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
    pub(super) fn covers(&self, sent: f64, done: f64) -> bool {
        done >= self.from - self.slack && sent <= self.until
    }

    /// Whether a 503 is documented for a request of this rule at that time.
    pub(super) fn allows(&self, rule: Rule, sent: f64, done: f64) -> bool {
        match rule {
            Rule::Never => false,
            Rule::Page => self.covers(sent, done),
            Rule::Session => done >= self.sessions_from - self.slack && sent <= self.until,
        }
    }
}

/// One request and its answer, with what the answer should be.
pub(super) struct Answer {
    pub(super) instance: usize,
    pub(super) what: &'static str,
    /// Seconds on the soak's clock when the request went out and when its answer was in.
    pub(super) sent: f64,
    pub(super) done: f64,
    pub(super) reply: Result<Reply, String>,
    pub(super) expect: &'static [u16],
    pub(super) rule: Rule,
    /// Something wrong beyond the status (a redirect without `state`, a 303 without a session).
    pub(super) problem: Option<String>,
}

pub(super) const LOGIN_CALLBACK: &str = "POST /callback (login)";

pub(super) enum Verdict {
    Expected,
    Documented(Rule),
    Wrong(String),
    Transport(String),
}

pub(super) fn judge(a: &Answer, outage: Option<&Outage>, session_cookie: &str) -> Verdict {
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
