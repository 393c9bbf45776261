//! The store file itself: what it keeps across a reopen, and the files it refuses.

use std::time::Duration;

use super::store_path;
use crate::helpers::bff::{app_now, Consumption, FileStore, Revocation, SessionFacts, Store};

const MINUTE: Duration = Duration::from_secs(60);

fn facts<'a>(id: &'a str, sub: &'a str, created: i64) -> SessionFacts<'a> {
    SessionFacts {
        id,
        sid: None,
        sub,
        created,
        idp: None,
    }
}

/// Opens the file, waiting a little for a previous handle's writer to let go of it.
async fn reopen(path: &std::path::Path, capacity: usize) -> FileStore {
    for _ in 0..100 {
        match FileStore::open(path, capacity) {
            Ok(store) => return store,
            Err(error) if error.to_string().contains("locked") => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(error) => panic!("{error}"),
        }
    }
    panic!("the file stayed locked")
}

#[tokio::test]
async fn every_record_kind_survives_closing_and_reopening_the_file() {
    let path = store_path("reopen");
    let now = app_now();
    {
        let store = FileStore::open(&path, 1000).unwrap();
        assert_eq!(store.record_once("logout-jti:a", MINUTE).await, Ok(true));
        let issued = app_now() * 1000;
        assert_eq!(
            store.consume("consumed-state:a", MINUTE, issued).await,
            Ok(Consumption::First)
        );
        assert_eq!(
            store.consume("consumed-state:a", MINUTE, issued).await,
            Ok(Consumption::Replayed),
            "a used state was accepted before its commit"
        );
        store
            .put("tokens:{s}", "sealed".into(), MINUTE)
            .await
            .unwrap();
        store
            .put("tokens:{gone}", "x".into(), Duration::from_millis(1))
            .await
            .unwrap();
        assert_eq!(
            store.add_to_set("user-sessions:u", "s1", MINUTE, 5).await,
            Ok(vec![])
        );
        assert_eq!(
            store.add_to_set("user-sessions:u", "s2", MINUTE, 5).await,
            Ok(vec![])
        );
        store
            .remove_from_set("user-sessions:u", "s1")
            .await
            .unwrap();
        store
            .revoke(Revocation::of_session(
                &facts("ended", "alice", now - 5),
                now + 60,
            ))
            .await
            .unwrap();
        store
            .revoke(Revocation::subject("bob", now - 1, now + 60))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let store = reopen(&path, 1000).await;
    assert_eq!(store.record_once("logout-jti:a", MINUTE).await, Ok(false));
    // Closed cleanly: the state is refused as used, not as issued before a crash.
    assert_eq!(
        store
            .consume("consumed-state:a", MINUTE, app_now() * 1000)
            .await,
        Ok(Consumption::Replayed)
    );
    assert_eq!(
        store.get("tokens:{s}").await.unwrap().as_deref(),
        Some("sealed")
    );
    assert_eq!(store.get("tokens:{gone}").await.unwrap(), None);
    assert_eq!(store.set_members("user-sessions:u").await.unwrap(), ["s2"]);
    assert_eq!(
        store.is_revoked(&facts("ended", "alice", now - 5)),
        Ok(true)
    );
    assert_eq!(
        store.is_revoked(&facts("other", "alice", now - 5)),
        Ok(false)
    );
    assert_eq!(store.is_revoked(&facts("any", "bob", now - 2)), Ok(true));
    assert_eq!(store.is_revoked(&facts("later", "bob", now + 1)), Ok(false));
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_full_list_is_kept_bounded_in_the_file_and_still_refuses_every_ended_session() {
    let path = store_path("bounded");
    let now = app_now();
    let capacity = 40;
    {
        let store = FileStore::open(&path, capacity).unwrap();
        store
            .revoke(Revocation::of_session(
                &facts("victim", "victim", now - 100),
                now + 600,
            ))
            .await
            .unwrap();
        for i in 0..capacity * 3 {
            let id = format!("flood-{i}");
            let revocation = Revocation::of_session(&facts(&id, "mallory", now - 50), now + 600);
            store.revoke(revocation).await.unwrap();
        }
        for i in 0..capacity * 3 {
            let (id, sub) = (format!("many-{i}"), format!("user-{i}"));
            let revocation = Revocation::of_session(&facts(&id, &sub, now - 40), now + 600);
            store.revoke(revocation).await.unwrap();
        }
        assert!(store.ended_sessions() <= capacity);
    }
    // A smaller capacity at the next start folds what the file holds.
    let store = reopen(&path, capacity / 2).await;
    assert!(
        store.ended_sessions() <= capacity / 2,
        "{}",
        store.ended_sessions()
    );
    assert_eq!(
        store.is_revoked(&facts("victim", "victim", now - 100)),
        Ok(true)
    );
    assert_eq!(
        store.is_revoked(&facts("flood-3", "mallory", now - 50)),
        Ok(true)
    );
    assert_eq!(
        store.is_revoked(&facts("many-7", "user-7", now - 40)),
        Ok(true)
    );
    assert_eq!(store.is_revoked(&facts("fresh", "victim", now)), Ok(false));
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_second_process_or_handle_on_the_same_file_is_refused_naming_the_file() {
    let path = store_path("locked");
    let _first = FileStore::open(&path, 100).unwrap();
    let error = FileStore::open(&path, 100)
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("STORE_PATH"), "{error}");
    assert!(error.contains(&path.display().to_string()), "{error}");
    assert!(error.contains("locked by another process"), "{error}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_file_that_is_not_a_store_is_refused_and_left_as_it_was() {
    let path = store_path("garbage");
    let garbage = b"not a database, but someone's notes\n".repeat(200);
    std::fs::write(&path, &garbage).unwrap();
    let error = FileStore::open(&path, 100)
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains(&path.display().to_string()), "{error}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        garbage,
        "the file was changed"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn an_empty_file_is_refused_rather_than_taken_for_a_new_store() {
    let path = store_path("empty");
    std::fs::write(&path, b"").unwrap();
    let error = FileStore::open(&path, 100)
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("empty"), "{error}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_corrupt_file_is_refused_and_never_replaced() {
    let path = store_path("corrupt");
    {
        let store = FileStore::open(&path, 100).unwrap();
        let now = app_now();
        for i in 0..200 {
            let id = format!("s{i}");
            store
                .revoke(Revocation::of_session(&facts(&id, "u", now), now + 600))
                .await
                .unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut bytes = std::fs::read(&path).unwrap();
    // Damage every page after the header.
    for i in (8192..bytes.len()).step_by(512) {
        bytes[i] ^= 0xff;
    }
    std::fs::write(&path, &bytes).unwrap();
    let error = FileStore::open(&path, 100)
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains(&path.display().to_string()), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "the file was changed");
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn a_file_from_a_newer_version_is_refused() {
    let path = store_path("newer");
    drop(FileStore::open(&path, 100).unwrap());
    tokio::time::sleep(Duration::from_millis(50)).await;
    {
        let db = redb::Database::create(&path).unwrap();
        let write = db.begin_write().unwrap();
        {
            let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
            let mut table = write.open_table(meta).unwrap();
            table.insert("format", 99).unwrap();
        }
        write.commit().unwrap();
    }
    let error = FileStore::open(&path, 100)
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("newer"), "{error}");
    let _ = std::fs::remove_file(&path);
}
