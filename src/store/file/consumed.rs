//! Used login `state`s, recorded without waiting for the disk. A login would otherwise wait
//! for an `fsync` of its own; instead the record joins the next commit, and a crash cannot
//! reopen a replay window: the file notes that it is open, and a start that finds it still
//! marked (the last run ended without closing it) refuses every value issued before that
//! start. A clean stop commits everything first, so logins begun before a deploy complete
//! after it.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::local::now_ms;
use crate::store::StoreError;

/// Used values not yet known to be committed, and the issue time below which a value cannot
/// be told from a used one.
pub(super) struct UsedValues {
    /// Key → recorded until (Unix milliseconds); a key leaves once its commit is done.
    uncommitted: Mutex<HashMap<String, u64>>,
    /// Unix milliseconds; `i64::MIN` after a clean stop.
    issued_not_before_ms: i64,
}

/// What checking a value found.
pub(super) enum Check {
    /// Unused; recorded as used in memory, to be written with the next commit.
    Recorded,
    /// Used before (recorded in memory, or in the file).
    Used,
    /// Issued before a start that followed a crash.
    IssuedBeforeCrash,
}

impl UsedValues {
    /// `crashed`: the last run did not close the file, so records may be lost.
    pub(super) fn new(crashed: bool) -> Self {
        Self {
            uncommitted: Mutex::new(HashMap::new()),
            issued_not_before_ms: match crashed {
                true => crate::clock::now_ms(),
                false => i64::MIN,
            },
        }
    }

    /// Whether the last run ended without closing the file.
    pub(super) fn after_crash(&self) -> bool {
        self.issued_not_before_ms != i64::MIN
    }

    /// Checks `key` and, when unused, records it until `until_ms`. `in_file` answers whether
    /// the file has a live record of it; it runs under this list's lock, so of two calls for
    /// one key, one wins (a key is always here or in the file until it expires).
    pub(super) fn check(
        &self,
        key: &str,
        until_ms: u64,
        issued_ms: i64,
        in_file: impl FnOnce() -> Result<bool, StoreError>,
    ) -> Result<Check, StoreError> {
        if issued_ms < self.issued_not_before_ms {
            return Ok(Check::IssuedBeforeCrash);
        }
        let mut uncommitted = self.uncommitted.lock().map_err(poisoned)?;
        let now = now_ms();
        if uncommitted.get(key).is_some_and(|until| *until > now) || in_file()? {
            return Ok(Check::Used);
        }
        uncommitted.insert(key.to_string(), until_ms);
        Ok(Check::Recorded)
    }

    /// The commit holding `key` is done: the file answers for it now.
    pub(super) fn committed(&self, key: &str) {
        if let Ok(mut uncommitted) = self.uncommitted.lock() {
            uncommitted.remove(key);
        }
    }

    /// Forgets expired entries (left behind only by commits that failed).
    pub(super) fn sweep(&self) {
        let now = now_ms();
        if let Ok(mut uncommitted) = self.uncommitted.lock() {
            uncommitted.retain(|_, until| *until > now);
        }
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Unavailable("the store's list of used values is poisoned".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn absent() -> Result<bool, StoreError> {
        Ok(false)
    }

    #[test]
    fn a_value_is_used_once_before_and_after_its_commit() {
        let used = UsedValues::new(false);
        let until = now_ms() + 60_000;
        let now = crate::clock::now_ms();
        assert!(matches!(
            used.check("k", until, now, absent),
            Ok(Check::Recorded)
        ));
        assert!(matches!(
            used.check("k", until, now, absent),
            Ok(Check::Used)
        ));
        used.committed("k");
        // Committed: the file answers for it.
        assert!(matches!(
            used.check("k", until, now, || Ok(true)),
            Ok(Check::Used)
        ));
    }

    #[test]
    fn after_a_crash_values_issued_before_the_start_are_refused_and_new_ones_are_not() {
        let before = crate::clock::now_ms() - 1;
        let used = UsedValues::new(true);
        let until = now_ms() + 60_000;
        assert!(used.after_crash());
        assert!(matches!(
            used.check("old", until, before, absent),
            Ok(Check::IssuedBeforeCrash)
        ));
        let now = crate::clock::now_ms();
        assert!(matches!(
            used.check("new", until, now, absent),
            Ok(Check::Recorded)
        ));
        assert!(!UsedValues::new(false).after_crash());
    }
}
