use super::*;
use crate::store::digest;

fn facts<'a>(id: &'a str, sid: Option<&'a str>, sub: &'a str, created: i64) -> SessionFacts<'a> {
    SessionFacts {
        id,
        sid,
        sub,
        created,
        idp: None,
    }
}

fn logout(id: &str, sub: &str, created: i64, until: i64) -> Revocation {
    Revocation::of_session(&facts(id, None, sub, created), until)
}

#[test]
fn a_revoked_session_id_is_refused_and_others_are_not() {
    let list = RevocationList::new(10);
    let now = clock::now();
    assert!(!list.is_revoked(&facts("a", None, "alice", now)));
    list.insert(&Revocation::session("a", now + 60));
    assert!(list.is_revoked(&facts("a", None, "alice", now)));
    assert!(!list.is_revoked(&facts("b", None, "alice", now)));
}

#[test]
fn an_idp_session_revocation_ends_every_session_with_that_sid() {
    let list = RevocationList::new(10);
    let now = clock::now();
    list.insert(&Revocation::idp_session("sid-1", now, now + 60));
    assert!(list.is_revoked(&facts("a", Some("sid-1"), "alice", now)));
    assert!(list.is_revoked(&facts("b", Some("sid-1"), "bob", now)));
    assert!(!list.is_revoked(&facts("c", Some("sid-2"), "alice", now)));
    assert!(!list.is_revoked(&facts("d", None, "alice", now)));
}

#[test]
fn a_subject_revocation_ends_earlier_sessions_but_not_later_logins() {
    let list = RevocationList::new(10);
    let now = clock::now();
    list.insert(&Revocation::subject("alice", now, now + 60));
    assert!(list.is_revoked(&facts("a", None, "alice", now - 10)));
    assert!(list.is_revoked(&facts("b", Some("x"), "alice", now)));
    assert!(!list.is_revoked(&facts("c", None, "alice", now + 1)));
    assert!(!list.is_revoked(&facts("d", None, "bob", now - 10)));
}

#[test]
fn an_expired_revocation_is_not_kept() {
    let list = RevocationList::new(10);
    let now = clock::now();
    list.insert(&Revocation::session("a", now - 1));
    assert!(!list.is_revoked(&facts("a", None, "alice", now)));
    assert!(list.is_empty());
}

#[test]
fn one_user_flooding_a_full_list_has_their_sessions_folded_and_no_one_else_comes_back() {
    let capacity = 100;
    let list = RevocationList::new(capacity);
    let now = clock::now();
    list.insert(&logout("victim-session", "victim", now - 100, now + 3600));
    let mut folded = Vec::new();
    for i in 0..capacity * 3 {
        let changes = list.insert(&logout(&format!("m{i}"), "mallory", now - 50, now + 3600));
        folded.extend(changes.added);
        assert!(list.len() <= capacity);
    }
    assert!(list.is_revoked(&facts("victim-session", None, "victim", now - 100)));
    assert!(!list.is_revoked(&facts("victim-other", None, "victim", now - 100)));
    for i in 0..capacity * 3 {
        let id = format!("m{i}");
        assert!(
            list.is_revoked(&facts(&id, None, "mallory", now - 50)),
            "{id}"
        );
    }
    assert!(folded.contains(&Revocation::subject("mallory", now - 50, now + 3600)));
    // The folding ends the flooder's older sessions, never their later logins.
    assert!(!list.is_revoked(&facts("m-new", None, "mallory", now)));
}

#[test]
fn many_users_flooding_a_full_list_raise_a_watermark_that_ends_the_oldest_sessions() {
    let capacity = 100;
    let list = RevocationList::new(capacity);
    let now = clock::now();
    list.insert(&logout("victim-session", "victim", now - 1000, now + 3600));
    let mut added = Vec::new();
    for i in 0..capacity * 3 {
        let created = now - 900 + i as i64;
        let changes = list.insert(&logout(
            &format!("s{i}"),
            &format!("u{i}"),
            created,
            now + 3600,
        ));
        added.extend(changes.added);
        assert!(list.len() <= capacity);
    }
    assert!(list.is_revoked(&facts("victim-session", None, "victim", now - 1000)));
    for i in 0..capacity * 3 {
        let (id, user) = (format!("s{i}"), format!("u{i}"));
        assert!(
            list.is_revoked(&facts(&id, None, &user, now - 900 + i as i64)),
            "{id}"
        );
    }
    assert!(added
        .iter()
        .any(|r| matches!(r.revoked, Revoked::Before(_))));
    // A login after the flood is untouched.
    assert!(!list.is_revoked(&facts("fresh", None, "victim", now)));
}

#[test]
fn the_changes_of_a_full_list_name_what_a_durable_store_must_write_and_forget() {
    let list = RevocationList::new(4);
    let now = clock::now();
    let first = logout("a", "alice", now - 10, now + 60);
    list.insert(&first);
    list.insert(&logout("b", "alice", now - 5, now + 60));
    list.insert(&logout("c", "bob", now - 5, now + 60));
    list.insert(&logout("d", "carol", now - 5, now + 60));
    let changes = list.insert(&logout("e", "dave", now - 5, now + 60));
    assert!(changes.removed.contains(&first.member()));
    assert_eq!(
        changes.added,
        vec![Revocation::subject("alice", now - 5, now + 60)]
    );
    assert!(list.is_revoked(&facts("a", None, "alice", now - 10)));
}

#[test]
fn a_watermark_from_elsewhere_forgets_what_it_covers_and_a_covered_revocation_is_not_kept() {
    let list = RevocationList::new(10);
    let now = clock::now();
    list.insert(&logout("a", "alice", now - 10, now + 60));
    let changes = list.insert(&Revocation {
        revoked: Revoked::Before(now - 5),
        until: now + 60,
    });
    assert_eq!(
        changes.removed,
        vec![logout("a", "alice", now - 10, now + 60).member()]
    );
    assert!(list.is_empty());
    assert!(list.is_revoked(&facts("a", None, "alice", now - 10)));
    assert!(!list.is_revoked(&facts("b", None, "alice", now)));
    let late = logout("x", "bob", now - 20, now + 30);
    assert_eq!(list.insert(&late).removed, vec![late.member()]);
    assert!(list.is_empty());
}

#[test]
fn folded_users_are_named_by_the_same_digest_as_their_logins() {
    let list = RevocationList::new(3);
    let now = clock::now();
    for id in ["a", "b", "c"] {
        list.insert(&logout(id, "alice", now - 5, now + 60));
    }
    let changes = list.insert(&logout("d", "bob", now - 5, now + 60));
    let Revoked::Subject { sub, .. } = &changes.added[0].revoked else {
        panic!("{changes:?}");
    };
    assert_eq!(sub, &digest("alice"));
}
