//! A worker: a keep-alive connection to each instance, a small random generator, and one
//! request sent and timed.

use std::time::Instant;

use hyper::Method;

use super::ops::Op;
use super::tally::Shared;
use super::verdict::{Answer, Outage, Rule};
use crate::http::Conn;
use crate::login::{Minter, Target};

/// A small xorshift generator: the mix needs no cryptographic randomness.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(super) fn op(&mut self, mix: &[(Op, u32)]) -> Op {
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
pub(super) struct Ctx {
    pub(super) targets: Vec<Target>,
    pub(super) minter: Minter,
    pub(super) shared: Shared,
    pub(super) outage: Option<Outage>,
    pub(super) oversize: usize,
    pub(super) started: Instant,
}

impl Ctx {
    pub(super) fn secs(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// One worker: a keep-alive connection to each instance.
pub(super) struct Worker {
    pub(super) conns: Vec<Conn>,
    pub(super) rng: Rng,
}

impl Worker {
    /// An instance picked at random for the next request.
    pub(super) fn instance(&mut self) -> usize {
        (self.rng.next() % self.conns.len() as u64) as usize
    }
}

/// One request of an operation: what to send and which answers are right for it.
pub(super) struct Request<'a> {
    pub(super) what: &'static str,
    pub(super) method: Method,
    pub(super) path: &'a str,
    pub(super) headers: &'a [(&'a str, &'a str)],
    pub(super) body: Option<String>,
    pub(super) expect: &'static [u16],
    pub(super) rule: Rule,
}

impl<'a> Request<'a> {
    pub(super) fn get(
        what: &'static str,
        path: &'a str,
        expect: &'static [u16],
        rule: Rule,
    ) -> Self {
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

    pub(super) fn post(
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

    pub(super) fn headers(mut self, headers: &'a [(&'a str, &'a str)]) -> Self {
        self.headers = headers;
        self
    }
}

/// Sends the request to an instance picked at random (several instances behave as one app
/// behind a load balancer without sticky sessions) and times it on the soak's clock.
pub(super) async fn send(ctx: &Ctx, w: &mut Worker, r: Request<'_>) -> Answer {
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
