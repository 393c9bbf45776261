//! This instance's copy of the revocations (sessions ended before their cookie expires), kept
//! in memory so checking a request needs no disk read or network round trip.
//!
//! The copy is bounded (`ENDED_SESSIONS_CAPACITY` entries), and a full copy never forgets an
//! ended session: it makes room by ending more sessions than asked. First it folds the ended
//! sessions of the users with the most into one "every session of this user begun at or
//! before T" each; if that is not enough, it raises a watermark that ends every session begun
//! at or before a moment, the oldest first. Each step is returned as [`Changes`], so a durable
//! store writes the same bounded list, and is counted in a metric and logged.

use std::sync::Mutex;

use sha2::{Digest as _, Sha256};

use super::revocation::{digest_bits, Revocation, Revoked, SessionFacts};
use crate::clock;

mod room;
mod tables;

use room::{all_entries, fold_users, idp_member, raise_watermark, subject_member, sweep};
pub use tables::Changes;
use tables::{merge_into, Entry, Key, Lists};

/// This instance's copy of the revocations, bounded and failing closed (see the module).
pub struct RevocationList {
    lists: Mutex<Lists>,
    capacity: usize,
}

impl RevocationList {
    /// Room for `capacity` revocations in all.
    pub fn new(capacity: usize) -> Self {
        Self {
            lists: Mutex::new(Lists::default()),
            capacity: capacity.max(2),
        }
    }

    /// How many revocations the copy holds.
    pub fn len(&self) -> usize {
        self.lists.lock().map_or(0, |lists| lists.len())
    }

    /// Whether the copy holds none.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a revocation (again: the later expiry and login win), making room first if the
    /// copy is full. Returns what else changed.
    pub fn insert(&self, revocation: &Revocation) -> Changes {
        let mut changes = Changes::default();
        let now = clock::now();
        if revocation.until <= now {
            return changes;
        }
        let Ok(mut lists) = self.lists.lock() else {
            return changes;
        };
        let entry = Entry {
            until: revocation.until,
            covers: revocation.covers(),
        };
        if lists.covered_by_watermark(entry) || lists.covered_by_user(revocation, entry) {
            changes.removed.push(revocation.member());
            return changes;
        }
        if lists.len() >= self.capacity && !lists.holds(&revocation.revoked) {
            self.make_room(&mut lists, now, &mut changes);
        }
        match &revocation.revoked {
            Revoked::Session { id, sub, created } => {
                let Some(id) = digest_bits(id) else {
                    return changes;
                };
                // Only an entry with its login time can be folded into its user's.
                let user = sub
                    .as_deref()
                    .filter(|_| created.is_some())
                    .and_then(digest_bits)
                    .map(Key);
                match lists.sessions.get_mut(&Key(id)) {
                    Some((kept, _)) => kept.merge(entry),
                    None => {
                        lists.sessions.insert(Key(id), (entry, user));
                        if let Some(user) = user {
                            *lists.per_user.entry(user).or_default() += 1;
                        }
                    }
                }
            }
            Revoked::IdpSession { sid, .. } => {
                if let Some(sid) = digest_bits(sid) {
                    let old = merge_into(&mut lists.idp_sessions, Key(sid), entry);
                    changes
                        .removed
                        .extend(old.map(|old| idp_member(Key(sid), old)));
                }
            }
            Revoked::Subject { sub, .. } => {
                if let Some(sub) = digest_bits(sub) {
                    let old = merge_into(&mut lists.subjects, Key(sub), entry);
                    changes
                        .removed
                        .extend(old.map(|old| subject_member(Key(sub), old)));
                }
            }
            Revoked::Before(_) => raise_watermark(&mut lists, entry, &mut changes),
        }
        changes
    }

    /// Whether the session is revoked. Fails closed: a poisoned lock says revoked.
    pub fn is_revoked(&self, session: &SessionFacts<'_>) -> bool {
        let Ok(lists) = self.lists.lock() else {
            return true;
        };
        let now = clock::now();
        if let Some(watermark) = lists.watermark {
            if session.created <= watermark.covers && watermark.until > now {
                return true;
            }
        }
        // Most requests come while nothing is revoked: no hashing then.
        if lists.len() == 0 {
            return false;
        }
        let live = |entry: Option<&Entry>| entry.is_some_and(|e| e.until > now);
        if !lists.sessions.is_empty() && live(lists.sessions.get(&key_of(session.id)).map(|e| &e.0))
        {
            return true;
        }
        if let Some(sid) = session.sid {
            if !lists.idp_sessions.is_empty()
                && live(lists.idp_sessions.get(&key_of_scoped(session.idp, sid)))
            {
                return true;
            }
        }
        if !lists.subjects.is_empty() {
            if let Some(entry) = lists.subjects.get(&key_of_scoped(session.idp, session.sub)) {
                return entry.until > now && session.created <= entry.covers;
            }
        }
        false
    }

    /// Frees a sixteenth of the capacity: expired entries, then users' ended sessions folded
    /// into one revocation each, then a watermark.
    fn make_room(&self, lists: &mut Lists, now: i64, changes: &mut Changes) {
        let target = self.capacity - (self.capacity / 16).max(1);
        sweep(lists, now, changes);
        if lists.len() > target {
            fold_users(lists, lists.len() - target, changes);
        }
        if lists.len() > target {
            let excess = lists.len() - target;
            let mut covers: Vec<i64> = all_entries(lists).map(|e| e.covers).collect();
            let (_, moment, _) = covers.select_nth_unstable(excess - 1);
            let entry = Entry {
                covers: *moment,
                until: all_entries(lists)
                    .filter(|e| e.covers <= *moment)
                    .map(|e| e.until)
                    .max()
                    .unwrap_or(now),
            };
            raise_watermark(lists, entry, changes);
            crate::metrics::ended_sessions_bound("watermark");
            tracing::warn!(
                capacity = self.capacity,
                before = entry.covers,
                "the list of ended sessions is full: every session begun at or before this moment is ended (raise ENDED_SESSIONS_CAPACITY)"
            );
        }
    }
}

/// The table key of a value: the first 128 bits of its SHA-256, as [`super::digest`] names it.
fn key_of(value: &str) -> Key {
    key_of_scoped(None, value)
}

/// The table key of a `sub` or `sid` within its provider, as `digest(scoped(idp, value))`
/// names it, without building the scoped text.
fn key_of_scoped(idp: Option<&str>, value: &str) -> Key {
    let mut hasher = Sha256::new();
    if let Some(idp) = idp {
        hasher.update(idp.as_bytes());
        hasher.update("\u{1f}".as_bytes());
    }
    hasher.update(value.as_bytes());
    let hash = hasher.finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&hash[..16]);
    Key(u128::from_le_bytes(first))
}

#[cfg(test)]
mod tests;
