//! How a full list makes room without forgetting an ended session: expired entries go,
//! then users' ended sessions are folded into one entry each, then a watermark ends the
//! oldest sessions. Each step reports what a durable store must write and forget.

use super::tables::{merge_into, Changes, Entry, Key, Lists, Table};
use crate::store::revocation::{digest_text, Revocation, Revoked};

pub(super) fn all_entries(lists: &Lists) -> impl Iterator<Item = &Entry> {
    lists
        .sessions
        .values()
        .map(|(e, _)| e)
        .chain(lists.idp_sessions.values())
        .chain(lists.subjects.values())
}

/// Forgets the entries that have expired.
pub(super) fn sweep(lists: &mut Lists, now: i64, changes: &mut Changes) {
    let expired: Vec<Key> = lists
        .sessions
        .iter()
        .filter(|(_, (e, _))| e.until <= now)
        .map(|(k, _)| *k)
        .collect();
    for key in expired {
        if let Some((entry, user)) = lists.remove_session(key) {
            changes.removed.push(session_member(key, user, entry));
        }
    }
    lists.idp_sessions.retain(|key, entry| {
        let keep = entry.until > now;
        if !keep {
            changes.removed.push(idp_member(*key, *entry));
        }
        keep
    });
    lists.subjects.retain(|key, entry| {
        let keep = entry.until > now;
        if !keep {
            changes.removed.push(subject_member(*key, *entry));
        }
        keep
    });
}

/// Folds the ended sessions of the users with the most into one revocation per user (every
/// session of theirs begun at or before the latest of them), until `excess` entries are freed
/// or no user has two.
pub(super) fn fold_users(lists: &mut Lists, excess: usize, changes: &mut Changes) {
    let mut users: Vec<(Key, u32)> = lists
        .per_user
        .iter()
        .filter(|(_, n)| **n >= 2)
        .map(|(k, n)| (*k, *n))
        .collect();
    if users.is_empty() {
        return;
    }
    users.sort_unstable_by_key(|u| std::cmp::Reverse(u.1));
    let mut chosen: Table<Option<Entry>> = Table::default();
    let mut freed = 0;
    for (user, count) in users {
        if freed >= excess {
            break;
        }
        chosen.insert(user, None);
        freed += count as usize - 1;
    }
    let folded: Vec<Key> = lists
        .sessions
        .iter()
        .filter(|(_, (_, user))| user.is_some_and(|u| chosen.contains_key(&u)))
        .map(|(k, _)| *k)
        .collect();
    for key in folded {
        let Some((entry, Some(user))) = lists.remove_session(key) else {
            continue;
        };
        changes.removed.push(session_member(key, Some(user), entry));
        if let Some(slot) = chosen.get_mut(&user) {
            slot.get_or_insert(entry).merge(entry);
        }
    }
    for (user, entry) in chosen {
        let Some(entry) = entry else { continue };
        let old = merge_into(&mut lists.subjects, user, entry);
        changes
            .removed
            .extend(old.map(|old| subject_member(user, old)));
        let merged = lists.subjects[&user];
        changes.added.push(Revocation {
            revoked: Revoked::Subject {
                sub: digest_text(user.0),
                before: merged.covers,
            },
            until: merged.until,
        });
    }
    crate::metrics::ended_sessions_bound("collapsed");
    tracing::warn!(
        "the list of ended sessions is full: the users with the most ended sessions had every earlier session ended (raise ENDED_SESSIONS_CAPACITY)"
    );
}

/// Raises the watermark to `entry` (never lowers it) and forgets what it now covers.
pub(super) fn raise_watermark(lists: &mut Lists, entry: Entry, changes: &mut Changes) {
    let mut watermark = entry;
    if let Some(old) = lists.watermark {
        if old.covers == watermark.covers && old.until >= watermark.until {
            return;
        }
        watermark.merge(old);
        changes.removed.push(watermark_member(old));
    }
    lists.watermark = Some(watermark);
    changes.added.push(Revocation {
        revoked: Revoked::Before(watermark.covers),
        until: watermark.until,
    });
    let covered = |e: &Entry| e.covers <= watermark.covers && e.until <= watermark.until;
    let sessions: Vec<Key> = lists
        .sessions
        .iter()
        .filter(|(_, (e, _))| covered(e))
        .map(|(k, _)| *k)
        .collect();
    for key in sessions {
        if let Some((entry, user)) = lists.remove_session(key) {
            changes.removed.push(session_member(key, user, entry));
        }
    }
    lists.idp_sessions.retain(|key, e| {
        let keep = !covered(e);
        if !keep {
            changes.removed.push(idp_member(*key, *e));
        }
        keep
    });
    lists.subjects.retain(|key, e| {
        let keep = !covered(e);
        if !keep {
            changes.removed.push(subject_member(*key, *e));
        }
        keep
    });
}

/// The members as stored. A session entry without a user was recorded without its login
/// time (`s <id>`); with one, `covers` is that time.
fn session_member(key: Key, user: Option<Key>, entry: Entry) -> String {
    match user {
        Some(user) => format!(
            "s {} {} {}",
            digest_text(key.0),
            digest_text(user.0),
            entry.covers
        ),
        None => format!("s {}", digest_text(key.0)),
    }
}

pub(super) fn idp_member(key: Key, entry: Entry) -> String {
    // Revocations of this version always carry their moment; an older one's moment is its
    // expiry, so both spellings are removed.
    if entry.covers == entry.until {
        format!("i {}", digest_text(key.0))
    } else {
        format!("i {} {}", digest_text(key.0), entry.covers)
    }
}

pub(super) fn subject_member(key: Key, entry: Entry) -> String {
    format!("u {} {}", digest_text(key.0), entry.covers)
}

fn watermark_member(entry: Entry) -> String {
    format!("w {}", entry.covers)
}
