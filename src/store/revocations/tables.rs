//! The tables of the copy of the revocations and what a full copy reports as changed.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

use super::super::partition::PassThrough;
use super::super::revocation::{digest_bits, Revocation, Revoked};

/// A 128-bit digest as a table key; hashed by its low 64 bits, already a hash.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Key(pub(super) u128);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0 as u64);
    }
}

pub(super) type Table<V> = HashMap<Key, V, BuildHasherDefault<PassThrough>>;

/// How long an entry is kept (Unix seconds) and the latest login it ends.
#[derive(Clone, Copy)]
pub(super) struct Entry {
    pub(super) until: i64,
    pub(super) covers: i64,
}

impl Entry {
    pub(super) fn merge(&mut self, other: Entry) {
        self.until = self.until.max(other.until);
        self.covers = self.covers.max(other.covers);
    }
}

/// What a full copy changed besides the revocation inserted: revocations added (a user's
/// sessions folded into one, a watermark) and members removed (those now covered). A durable
/// store writes both with the revocation itself.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// Revocations to record as well.
    pub added: Vec<Revocation>,
    /// Members (see [`Revocation::member`]) to forget; may name the revocation just inserted
    /// when a watermark already covers it.
    pub removed: Vec<String>,
}

#[derive(Default)]
pub(super) struct Lists {
    /// Session id → its entry and its user, when known.
    pub(super) sessions: Table<(Entry, Option<Key>)>,
    pub(super) idp_sessions: Table<Entry>,
    /// `sub` → every session of that user begun at or before `covers` is ended.
    pub(super) subjects: Table<Entry>,
    /// Every session begun at or before `covers` is ended.
    pub(super) watermark: Option<Entry>,
    /// How many ended sessions each user has in `sessions`.
    pub(super) per_user: Table<u32>,
}

impl Lists {
    pub(super) fn len(&self) -> usize {
        self.sessions.len() + self.idp_sessions.len() + self.subjects.len()
    }

    pub(super) fn remove_session(&mut self, key: Key) -> Option<(Entry, Option<Key>)> {
        let removed = self.sessions.remove(&key)?;
        if let Some(user) = removed.1 {
            if let Some(count) = self.per_user.get_mut(&user) {
                *count -= 1;
                if *count == 0 {
                    self.per_user.remove(&user);
                }
            }
        }
        Some(removed)
    }

    /// Whether the revocation is already in a table (inserting it again takes no room).
    pub(super) fn holds(&self, revoked: &Revoked) -> bool {
        let key = |digest: &str| digest_bits(digest).map(Key);
        match revoked {
            Revoked::Session { id, .. } => key(id).is_some_and(|k| self.sessions.contains_key(&k)),
            Revoked::IdpSession { sid, .. } => {
                key(sid).is_some_and(|k| self.idp_sessions.contains_key(&k))
            }
            Revoked::Subject { sub, .. } => {
                key(sub).is_some_and(|k| self.subjects.contains_key(&k))
            }
            Revoked::Before(_) => true,
        }
    }

    /// Whether a session's revocation is already covered by one of its user's (it was folded
    /// into it, say, and comes back as another instance's message).
    pub(super) fn covered_by_user(&self, revocation: &Revocation, entry: Entry) -> bool {
        let Revoked::Session {
            sub: Some(sub),
            created: Some(_),
            ..
        } = &revocation.revoked
        else {
            return false;
        };
        digest_bits(sub)
            .and_then(|sub| self.subjects.get(&Key(sub)))
            .is_some_and(|user| entry.covers <= user.covers && entry.until <= user.until)
    }

    pub(super) fn covered_by_watermark(&self, entry: Entry) -> bool {
        self.watermark
            .is_some_and(|w| entry.covers <= w.covers && entry.until <= w.until)
    }
}

/// Merges `entry` into the table; returns the entry it replaced when its moment changed (its
/// member is written differently, so a store forgets the old one).
pub(super) fn merge_into(table: &mut Table<Entry>, key: Key, entry: Entry) -> Option<Entry> {
    match table.get_mut(&key) {
        Some(kept) => {
            let old = *kept;
            kept.merge(entry);
            (kept.covers != old.covers).then_some(old)
        }
        None => {
            table.insert(key, entry);
            None
        }
    }
}
