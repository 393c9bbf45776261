//! One revocation: what it ends, until when it must be remembered, and the text form in which
//! stores keep it and instances pass it on.

use base64::Engine;

use super::digest;

/// What a revocation ends. Values are the store's digests (see `store::digest`), never the
/// identifiers themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// One session of this app, by the digest of its id.
    Session {
        /// The digest of the session id.
        id: String,
        /// The digest of its user's `sub`, when known: a user's many ended sessions can then
        /// be folded into one [`Revoked::Subject`] when the list is full.
        sub: Option<String>,
        /// Unix seconds of its login, when known.
        created: Option<i64>,
    },
    /// Every session created from this IdP session, by the digest of its `sid`.
    IdpSession {
        /// The digest of the `sid`.
        sid: String,
        /// Unix seconds of the revocation, when known: no session of that IdP session began
        /// later.
        at: Option<i64>,
    },
    /// Every session of this user (digest of `sub`) that began at or before `before` (Unix
    /// seconds); later logins stay valid.
    Subject {
        /// The digest of `sub`.
        sub: String,
        /// Sessions created at or before this Unix second are ended.
        before: i64,
    },
    /// Every session of every user that began at or before this Unix second: the last resort
    /// of a full list, which ends the oldest sessions rather than forget an ended one.
    Before(i64),
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
    /// The identity provider it came from when not the default one: its `sid` and `sub` are
    /// that provider's, so they are named within it (see `store::scoped`).
    pub idp: Option<&'a str>,
}

impl Revocation {
    /// Ends the session with this id (a logout whose session's user and start are unknown).
    pub fn session(id: &str, until: i64) -> Self {
        Self::session_named(digest(id), None, None, until)
    }

    /// Ends this session (logout).
    pub fn of_session(session: &SessionFacts<'_>, until: i64) -> Self {
        Self::session_named(
            digest(session.id),
            Some(digest(&super::scoped(session.idp, session.sub))),
            Some(session.created),
            until,
        )
    }

    /// Ends the session whose id has the digest `name` (the store's name for it), begun at or
    /// before `created`.
    pub fn session_named(
        name: String,
        sub: Option<String>,
        created: Option<i64>,
        until: i64,
    ) -> Self {
        Self {
            revoked: Revoked::Session {
                id: name,
                sub,
                created,
            },
            until,
        }
    }

    /// Ends every session of this IdP session (back-channel logout with `sid`), revoked at
    /// Unix second `at`.
    pub fn idp_session(sid: &str, at: i64, until: i64) -> Self {
        Self {
            revoked: Revoked::IdpSession {
                sid: digest(sid),
                at: Some(at),
            },
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

    /// The latest login (Unix seconds) of any session this revocation ends: a "sessions begun
    /// at or before" moment that covers it. Unknown: its expiry, which covers it too.
    pub fn covers(&self) -> i64 {
        match &self.revoked {
            Revoked::Session { created, .. } => created.unwrap_or(self.until),
            Revoked::IdpSession { at, .. } => at.unwrap_or(self.until),
            Revoked::Subject { before, .. } => *before,
            Revoked::Before(before) => *before,
        }
    }

    /// What it ends, as one line without the expiry (a store's member name): `s <id> [<sub>
    /// <created>]`, `i <sid> [<at>]`, `u <sub> <before>` or `w <before>`.
    pub fn member(&self) -> String {
        match &self.revoked {
            Revoked::Session {
                id,
                sub: Some(sub),
                created: Some(created),
            } => format!("s {id} {sub} {created}"),
            Revoked::Session { id, .. } => format!("s {id}"),
            Revoked::IdpSession { sid, at: Some(at) } => format!("i {sid} {at}"),
            Revoked::IdpSession { sid, at: None } => format!("i {sid}"),
            Revoked::Subject { sub, before } => format!("u {sub} {before}"),
            Revoked::Before(before) => format!("w {before}"),
        }
    }

    /// The revocation named by [`Revocation::member`], kept until `until`; `None` for
    /// anything else (a message from another program on the same channel, say).
    pub fn from_member(member: &str, until: i64) -> Option<Self> {
        let parts: Vec<&str> = member.split(' ').collect();
        let revoked = match parts.as_slice() {
            ["s", id] => Revoked::Session {
                id: checked(id)?,
                sub: None,
                created: None,
            },
            ["s", id, sub, created] => Revoked::Session {
                id: checked(id)?,
                sub: Some(checked(sub)?),
                created: Some(created.parse().ok()?),
            },
            ["i", sid] => Revoked::IdpSession {
                sid: checked(sid)?,
                at: None,
            },
            ["i", sid, at] => Revoked::IdpSession {
                sid: checked(sid)?,
                at: Some(at.parse().ok()?),
            },
            ["u", sub, before] => Revoked::Subject {
                sub: checked(sub)?,
                before: before.parse().ok()?,
            },
            ["w", before] => Revoked::Before(before.parse().ok()?),
            _ => return None,
        };
        Some(Self { revoked, until })
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

/// A digest as [`digest`] writes it (128 bits, base64url), as a number: the tables' key.
pub(super) fn digest_bits(digest: &str) -> Option<u128> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(digest)
        .ok()?;
    Some(u128::from_le_bytes(bytes.as_slice().try_into().ok()?))
}

/// The digest written back from its number (see [`digest_bits`]).
pub(super) fn digest_text(bits: u128) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bits.to_le_bytes())
}

fn checked(digest: &str) -> Option<String> {
    digest_bits(digest).map(|_| digest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_travel_as_text_and_garbage_is_ignored() {
        let facts = SessionFacts {
            id: "a",
            sid: None,
            sub: "alice",
            created: 100,
            idp: None,
        };
        for revocation in [
            Revocation::session("a", 5),
            Revocation::of_session(&facts, 5),
            Revocation::idp_session("s", 4, 5),
            Revocation::subject("alice", 3, 5),
            Revocation {
                revoked: Revoked::Before(3),
                until: 5,
            },
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
            "w soon 5",
            "s AAAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAA soon 5",
        ] {
            assert_eq!(Revocation::decode(garbage), None, "{garbage}");
        }
    }

    #[test]
    fn a_revocation_covers_the_logins_it_ends() {
        let facts = SessionFacts {
            id: "a",
            sid: None,
            sub: "alice",
            created: 100,
            idp: None,
        };
        assert_eq!(Revocation::of_session(&facts, 500).covers(), 100);
        assert_eq!(Revocation::session("a", 500).covers(), 500);
        assert_eq!(Revocation::idp_session("s", 200, 500).covers(), 200);
        assert_eq!(Revocation::subject("alice", 300, 500).covers(), 300);
    }

    #[test]
    fn digests_round_trip_through_their_numbers() {
        let d = digest("session");
        assert_eq!(digest_text(digest_bits(&d).unwrap()), d);
        assert_eq!(digest_bits("short"), None);
    }
}
