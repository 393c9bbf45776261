//! Revocations: sessions ended before their cookie expires, by session id (logout), by IdP
//! session (`sid`, back-channel logout) or by user (`sub`, back-channel logout without `sid`).
//! Every instance keeps them in memory, so checking a request needs no network round trip; a
//! shared store passes each new one to every instance and replays them all after a reconnect.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use base64::Engine;
use sha2::{Digest as _, Sha256};

use super::digest;
use super::partition::{Deadline, Digest, Partition};

/// What a revocation ends. Values are the store's digests (see [`digest`]), never the
/// identifiers themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// One session of this app, by the digest of its id.
    Session(String),
    /// Every session created from this IdP session, by the digest of its `sid`.
    IdpSession(String),
    /// Every session of this user (digest of `sub`) that began at or before `before` (Unix
    /// seconds); later logins stay valid.
    Subject {
        /// The digest of `sub`.
        sub: String,
        /// Sessions created at or before this Unix second are ended.
        before: i64,
    },
}

/// A revocation and how long it must be remembered: until no session it ends could still be
/// accepted (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// What it ends.
    pub revoked: Revoked,
    /// Until when it is kept (Unix seconds).
    pub until: i64,
}

impl Revocation {
    /// Ends the session with this id (logout).
    pub fn session(id: &str, until: i64) -> Self {
        Self {
            revoked: Revoked::Session(digest(id)),
            until,
        }
    }

    /// Ends every session of this IdP session (back-channel logout with `sid`).
    pub fn idp_session(sid: &str, until: i64) -> Self {
        Self {
            revoked: Revoked::IdpSession(digest(sid)),
            until,
        }
    }

    /// Ends every session of `sub` created at or before `before` (back-channel logout
    /// without `sid`).
    pub fn subject(sub: &str, before: i64, until: i64) -> Self {
        Self {
            revoked: Revoked::Subject {
                sub: digest(sub),
                before,
            },
            until,
        }
    }

    /// What it ends, as one line without the expiry: `s <digest>`, `i <digest>` or
    /// `u <digest> <before>` (a shared store's member name).
    pub fn member(&self) -> String {
        match &self.revoked {
            Revoked::Session(d) => format!("s {d}"),
            Revoked::IdpSession(d) => format!("i {d}"),
            Revoked::Subject { sub, before } => format!("u {sub} {before}"),
        }
    }

    /// The revocation named by [`Revocation::member`], kept until `until`; `None` for
    /// anything else (a message from another program on the same channel, say).
    pub fn from_member(member: &str, until: i64) -> Option<Self> {
        let mut parts = member.split(' ');
        let kind = parts.next()?;
        let value = parts
            .next()
            .filter(|d| key_of_digest(d).is_some())?
            .to_string();
        let revoked = match (kind, parts.next()) {
            ("s", None) => Revoked::Session(value),
            ("i", None) => Revoked::IdpSession(value),
            ("u", Some(before)) => Revoked::Subject {
                sub: value,
                before: before.parse().ok()?,
            },
            _ => return None,
        };
        parts.next().is_none().then_some(Self { revoked, until })
    }

    /// `<member> <until>`: the form passed between instances.
    pub fn encode(&self) -> String {
        format!("{} {}", self.member(), self.until)
    }

    /// The revocation [`Revocation::encode`] wrote.
    pub fn decode(text: &str) -> Option<Self> {
        let (member, until) = text.rsplit_once(' ')?;
        Self::from_member(member, until.parse().ok()?)
    }
}

/// What a request's session says about itself, for the revocation check.
#[derive(Debug, Clone, Copy)]
pub struct SessionFacts<'a> {
    /// The session's random id.
    pub id: &'a str,
    /// The IdP's session id, when the ID token had one.
    pub sid: Option<&'a str>,
    /// The user.
    pub sub: &'a str,
    /// Unix seconds of the login.
    pub created: i64,
}

/// The first 64 bits of a value's SHA-256: the table key of its digest.
fn key_of(value: &str) -> Digest {
    let hash = Sha256::digest(value.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    Digest(u64::from_le_bytes(first))
}

/// The table key of a digest made by [`digest`] (the same first 64 bits).
fn key_of_digest(digest: &str) -> Option<Digest> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(digest)
        .ok()?;
    let first: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    (bytes.len() == 16).then_some(Digest(u64::from_le_bytes(first)))
}

struct Lists {
    sessions: Partition,
    idp_sessions: Partition,
    /// `sub` key → (ends sessions created at or before, kept until).
    subjects: HashMap<Digest, (i64, Deadline)>,
    subject_capacity: usize,
}

/// This instance's copy of the revocations, bounded: when full it forgets those closest to
/// expiry first.
pub struct RevocationList {
    lists: Mutex<Lists>,
    epoch: Instant,
    epoch_unix: i64,
}

impl RevocationList {
    /// Room for `capacity` revocations of each kind.
    pub fn new(capacity: usize) -> Self {
        Self {
            lists: Mutex::new(Lists {
                sessions: Partition::new(capacity.max(1)),
                idp_sessions: Partition::new(capacity.max(1)),
                subjects: HashMap::new(),
                subject_capacity: capacity.max(1),
            }),
            epoch: Instant::now(),
            epoch_unix: crate::clock::now(),
        }
    }

    fn now(&self) -> Deadline {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Unix seconds as a deadline of the tables (milliseconds since `epoch`).
    fn deadline(&self, unix: i64) -> Deadline {
        let since_epoch = unix.saturating_sub(self.epoch_unix).max(0) as u64;
        since_epoch.saturating_mul(1000)
    }

    /// Adds a revocation (again: the longer expiry wins).
    pub fn insert(&self, revocation: &Revocation) {
        let now = self.now();
        let until = self.deadline(revocation.until);
        if until <= now {
            return;
        }
        let Ok(mut lists) = self.lists.lock() else {
            return;
        };
        let (table, value) = match &revocation.revoked {
            Revoked::Session(d) => (&mut lists.sessions, d),
            Revoked::IdpSession(d) => (&mut lists.idp_sessions, d),
            Revoked::Subject { sub, before } => {
                let Some(key) = key_of_digest(sub) else {
                    return;
                };
                let capacity = lists.subject_capacity;
                let subjects = &mut lists.subjects;
                if subjects.len() >= capacity && !subjects.contains_key(&key) {
                    subjects.retain(|_, (_, d)| *d > now);
                    if subjects.len() >= capacity {
                        // Forget the one closest to expiry.
                        if let Some(soonest) = subjects
                            .iter()
                            .min_by_key(|(_, (_, d))| *d)
                            .map(|(k, _)| *k)
                        {
                            subjects.remove(&soonest);
                        }
                    }
                }
                let entry = subjects.entry(key).or_insert((*before, until));
                entry.0 = entry.0.max(*before);
                entry.1 = entry.1.max(until);
                return;
            }
        };
        let Some(key) = key_of_digest(value) else {
            return;
        };
        if !table.is_live(&key, now) {
            table.make_room(now);
        }
        let kept = table.deadlines.get(&key).copied().unwrap_or(0).max(until);
        table.deadlines.insert(key, kept);
    }

    /// Whether the session is revoked. Fails closed: a poisoned lock says revoked.
    pub fn is_revoked(&self, session: &SessionFacts<'_>) -> bool {
        let Ok(lists) = self.lists.lock() else {
            return true;
        };
        // Most requests come while nothing is revoked: no hashing then.
        if lists.sessions.deadlines.is_empty()
            && lists.idp_sessions.deadlines.is_empty()
            && lists.subjects.is_empty()
        {
            return false;
        }
        let now = self.now();
        if !lists.sessions.deadlines.is_empty() && lists.sessions.is_live(&key_of(session.id), now)
        {
            return true;
        }
        if let Some(sid) = session.sid {
            if !lists.idp_sessions.deadlines.is_empty()
                && lists.idp_sessions.is_live(&key_of(sid), now)
            {
                return true;
            }
        }
        if !lists.subjects.is_empty() {
            if let Some(&(before, until)) = lists.subjects.get(&key_of(session.sub)) {
                return until > now && session.created <= before;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(
        id: &'a str,
        sid: Option<&'a str>,
        sub: &'a str,
        created: i64,
    ) -> SessionFacts<'a> {
        SessionFacts {
            id,
            sid,
            sub,
            created,
        }
    }

    #[test]
    fn a_revoked_session_id_is_refused_and_others_are_not() {
        let list = RevocationList::new(10);
        let now = crate::clock::now();
        assert!(!list.is_revoked(&facts("a", None, "alice", now)));
        list.insert(&Revocation::session("a", now + 60));
        assert!(list.is_revoked(&facts("a", None, "alice", now)));
        assert!(!list.is_revoked(&facts("b", None, "alice", now)));
    }

    #[test]
    fn an_idp_session_revocation_ends_every_session_with_that_sid() {
        let list = RevocationList::new(10);
        let now = crate::clock::now();
        list.insert(&Revocation::idp_session("sid-1", now + 60));
        assert!(list.is_revoked(&facts("a", Some("sid-1"), "alice", now)));
        assert!(list.is_revoked(&facts("b", Some("sid-1"), "bob", now)));
        assert!(!list.is_revoked(&facts("c", Some("sid-2"), "alice", now)));
        assert!(!list.is_revoked(&facts("d", None, "alice", now)));
    }

    #[test]
    fn a_subject_revocation_ends_earlier_sessions_but_not_later_logins() {
        let list = RevocationList::new(10);
        let now = crate::clock::now();
        list.insert(&Revocation::subject("alice", now, now + 60));
        assert!(list.is_revoked(&facts("a", None, "alice", now - 10)));
        assert!(list.is_revoked(&facts("b", Some("x"), "alice", now)));
        assert!(!list.is_revoked(&facts("c", None, "alice", now + 1)));
        assert!(!list.is_revoked(&facts("d", None, "bob", now - 10)));
    }

    #[test]
    fn an_expired_revocation_is_not_kept() {
        let list = RevocationList::new(10);
        let now = crate::clock::now();
        list.insert(&Revocation::session("a", now - 1));
        assert!(!list.is_revoked(&facts("a", None, "alice", now)));
    }

    #[test]
    fn revocations_travel_as_text_and_garbage_is_ignored() {
        let now = crate::clock::now();
        for revocation in [
            Revocation::session("a", now + 5),
            Revocation::idp_session("s", now + 5),
            Revocation::subject("alice", now, now + 5),
        ] {
            assert_eq!(Revocation::decode(&revocation.encode()), Some(revocation));
        }
        for garbage in [
            "",
            "s",
            "s notadigest 5",
            "x AAAAAAAAAAAAAAAAAAAAAA 5",
            "u AAAAAAAAAAAAAAAAAAAAAA 5",
            "s AAAAAAAAAAAAAAAAAAAAAA 5 6",
            "s AAAAAAAAAAAAAAAAAAAAAA soon",
        ] {
            assert_eq!(Revocation::decode(garbage), None, "{garbage}");
        }
    }

    #[test]
    fn a_full_list_forgets_the_revocations_closest_to_expiry() {
        let list = RevocationList::new(16);
        let now = crate::clock::now();
        for i in 0..16 {
            list.insert(&Revocation::session(&format!("s{i}"), now + 100 + i));
        }
        list.insert(&Revocation::session("last", now + 1000));
        assert!(list.is_revoked(&facts("last", None, "x", now)));
        assert!(list.is_revoked(&facts("s15", None, "x", now)));
        assert!(!list.is_revoked(&facts("s0", None, "x", now)));
    }
}
