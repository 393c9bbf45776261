//! When a token names a key the cached key set lacks, the key set is fetched again, but within
//! limits: at most once per second overall, once a minute for the same `kid`, and a bounded
//! memory of the `kid`s tried, so a flood of made-up `kid`s cannot make us hammer the IdP.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// At most one key-set fetch per this interval, however many unknown `kid`s arrive.
const KEY_FETCH_INTERVAL: Duration = Duration::from_secs(1);
/// The same unknown `kid` triggers at most one fetch per this interval.
const SAME_KID_INTERVAL: Duration = Duration::from_secs(60);
/// Bound on the remembered unknown `kid`s; past it, unknown keys wait for the next interval.
const MAX_REMEMBERED_KIDS: usize = 1024;

/// The key-set fetches so far; the provider keeps it under a lock held across a refetch.
#[derive(Default)]
pub(super) struct KeyFetches {
    /// Bumped whenever a fetched key set replaces the previous one.
    pub(super) generation: u64,
    last_fetch: Option<Instant>,
    unknown_kids: HashMap<String, Instant>,
}

impl KeyFetches {
    /// Records a key set fetched with discovery; returns its generation.
    pub(super) fn fetched_with_discovery(&mut self, now: Instant) -> u64 {
        self.generation += 1;
        self.last_fetch = Some(now);
        self.generation
    }

    /// Whether a token naming the unknown `kid` may have the key set fetched again: `None`
    /// when this `kid` was tried within the minute or too many are remembered; otherwise how
    /// long to wait first. Waiting out the global interval rather than refusing means a key
    /// that really is new is accepted on first sight, even during a flood of bogus ones.
    pub(super) fn wait_before_refetch(&mut self, kid: &str, now: Instant) -> Option<Duration> {
        if let Some(at) = self.unknown_kids.get(kid) {
            if now.duration_since(*at) < SAME_KID_INTERVAL {
                return None;
            }
        }
        self.unknown_kids
            .retain(|_, at| now.duration_since(*at) < SAME_KID_INTERVAL);
        if self.unknown_kids.len() >= MAX_REMEMBERED_KIDS {
            return None;
        }
        Some(self.last_fetch.map_or(Duration::ZERO, |last| {
            KEY_FETCH_INTERVAL.saturating_sub(now.duration_since(last))
        }))
    }

    /// Records that a refetch for `kid` starts now.
    pub(super) fn refetching(&mut self, kid: &str, now: Instant) {
        self.unknown_kids.insert(kid.to_string(), now);
        self.last_fetch = Some(now);
    }

    /// Records that a refetched key set replaced the previous one; returns its generation.
    pub(super) fn replaced(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_kid_is_refetched_at_most_once_a_minute() {
        let mut fetches = KeyFetches::default();
        let start = Instant::now();
        assert_eq!(
            fetches.wait_before_refetch("k", start),
            Some(Duration::ZERO)
        );
        fetches.refetching("k", start);
        let later = start + Duration::from_secs(30);
        assert_eq!(fetches.wait_before_refetch("k", later), None);
        assert_eq!(
            fetches.wait_before_refetch("k", start + SAME_KID_INTERVAL),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn another_kid_waits_out_the_global_interval() {
        let mut fetches = KeyFetches::default();
        let start = Instant::now();
        fetches.refetching("a", start);
        let soon = start + Duration::from_millis(400);
        assert_eq!(
            fetches.wait_before_refetch("b", soon),
            Some(Duration::from_millis(600))
        );
    }
}
