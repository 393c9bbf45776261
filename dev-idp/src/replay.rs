//! Identifiers that may be used once (`jti` of DPoP proofs and client assertions), remembered
//! until they could no longer be accepted anyway. Bounded: past the bound, expired ones are
//! dropped first, then the ones closest to expiry. Keyed by SHA-256, so the values are not kept.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How many identifiers one set remembers at most.
const CAPACITY: usize = 20_000;

/// A set of used identifiers, each forgotten when it expires.
#[derive(Default)]
pub struct SeenIds(Mutex<HashMap<[u8; 32], Instant>>);

impl SeenIds {
    /// Records `id` (in the namespace `scope`, e.g. a client id) for `remember`; false when it
    /// was already recorded and has not expired: a replay.
    pub fn first_use(&self, scope: &str, id: &str, remember: Duration) -> bool {
        let now = Instant::now();
        let mut hasher = Sha256::new();
        hasher.update(scope.as_bytes());
        hasher.update([0u8]);
        hasher.update(id.as_bytes());
        let key: [u8; 32] = hasher.finalize().into();
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if seen.get(&key).is_some_and(|expires| *expires > now) {
            return false;
        }
        if seen.len() >= CAPACITY {
            seen.retain(|_, expires| *expires > now);
        }
        while seen.len() >= CAPACITY {
            let Some(oldest) = seen.iter().min_by_key(|(_, e)| **e).map(|(k, _)| *k) else {
                break;
            };
            seen.remove(&oldest);
        }
        seen.insert(key, now + remember);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_accepted_once_per_scope() {
        let seen = SeenIds::default();
        let minute = Duration::from_secs(60);
        assert!(seen.first_use("a", "1", minute));
        assert!(!seen.first_use("a", "1", minute));
        assert!(seen.first_use("b", "1", minute));
        assert!(seen.first_use("a", "2", Duration::ZERO));
        assert!(
            seen.first_use("a", "2", minute),
            "expired ids are forgotten"
        );
    }
}
