use super::*;

impl MemoryStore {
    /// Whether `key` is recorded and live.
    fn has(&self, key: &str) -> bool {
        let partition = self.partition(key).lock().unwrap();
        partition.is_live(&self.digest(key), self.now())
    }
}

#[rocket::async_test]
async fn a_key_can_be_recorded_once_until_it_expires() {
    let store = MemoryStore::new(10);
    assert!(store
        .record_once("a", Duration::from_millis(50))
        .await
        .unwrap());
    assert!(!store
        .record_once("a", Duration::from_millis(50))
        .await
        .unwrap());
    assert!(store.has("a"));
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(!store.has("a"));
    assert!(store
        .record_once("a", Duration::from_secs(1))
        .await
        .unwrap());
}

#[rocket::async_test]
async fn values_can_be_stored_replaced_and_removed() {
    let store = MemoryStore::new(10);
    assert!(store
        .put("k", "one".into(), Duration::from_secs(60))
        .await
        .is_ok());
    assert!(store
        .put("k", "two".into(), Duration::from_secs(60))
        .await
        .is_ok());
    assert_eq!(store.get("k").await.unwrap().as_deref(), Some("two"));
    store.remove("k").await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), None);
    assert!(store
        .put("short", "v".into(), Duration::from_millis(10))
        .await
        .is_ok());
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(store.get("short").await.unwrap(), None);
}

#[test]
fn a_recorded_key_takes_16_bytes_of_table() {
    assert_eq!(std::mem::size_of::<(Digest, Deadline)>(), 16);
}

#[rocket::async_test]
async fn a_partition_full_of_live_records_refuses_new_ones_and_drops_none() {
    let store = MemoryStore::new(32);
    for i in 0..32u64 {
        let ttl = Duration::from_secs(100 + i);
        assert!(store
            .record_once(&format!("consumed-state:{i}"), ttl)
            .await
            .unwrap());
    }
    assert_eq!(
        store
            .record_once("consumed-state:new", Duration::from_secs(60))
            .await,
        Err(full())
    );
    for i in 0..32 {
        assert!(store.has(&format!("consumed-state:{i}")), "{i}");
    }
    // A token set is never dropped to make room for another one.
    let store = MemoryStore::new(1);
    store
        .put("tokens:{a}", "a".into(), Duration::from_secs(60))
        .await
        .unwrap();
    assert!(store
        .put("tokens:{b}", "b".into(), Duration::from_secs(60))
        .await
        .is_err());
    assert_eq!(store.get("tokens:{a}").await.unwrap().as_deref(), Some("a"));
}

#[rocket::async_test]
async fn a_flood_of_one_kind_leaves_the_others_alone() {
    let store = MemoryStore::new(8);
    assert!(store
        .record_once("logout-jti:s1", Duration::from_secs(60))
        .await
        .unwrap());
    assert!(store
        .put("tokens:s1", "t".into(), Duration::from_secs(60))
        .await
        .is_ok());
    for i in 0..1_000 {
        let key = format!("consumed-state:{i}");
        let _ = store.record_once(&key, Duration::from_secs(600)).await;
    }
    assert!(store.has("logout-jti:s1"));
    assert_eq!(store.get("tokens:s1").await.unwrap().as_deref(), Some("t"));
    assert!(store.has("consumed-state:7"));
}

#[rocket::async_test]
async fn set_members_expire_one_by_one_and_leave_when_removed() {
    let store = MemoryStore::default();
    let short = Duration::from_millis(30);
    let long = Duration::from_secs(60);
    assert!(store
        .add_to_set("set", "a", short, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .add_to_set("set", "b", long, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .add_to_set("set", "c", long, 10)
        .await
        .unwrap()
        .is_empty());
    let mut members = store.set_members("set").await.unwrap();
    members.sort();
    assert_eq!(members, ["a", "b", "c"]);
    assert!(store.set_members("other").await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(40)).await;
    let mut members = store.set_members("set").await.unwrap();
    members.sort();
    assert_eq!(members, ["b", "c"]);
    store.remove_from_set("set", "b").await.unwrap();
    assert_eq!(store.set_members("set").await.unwrap(), ["c"]);
}

#[rocket::async_test]
async fn a_set_past_its_limit_gives_up_the_members_that_expire_first() {
    let store = MemoryStore::default();
    for (member, secs) in [("old", 10), ("mid", 20), ("new", 30)] {
        let left = store
            .add_to_set("set", member, Duration::from_secs(secs), 2)
            .await
            .unwrap();
        assert_eq!(left.is_empty(), member != "new", "{member}");
        if member == "new" {
            assert_eq!(left, ["old"]);
        }
    }
    let mut members = store.set_members("set").await.unwrap();
    members.sort();
    assert_eq!(members, ["mid", "new"]);
}

#[rocket::async_test]
async fn a_lock_has_one_holder_until_released_or_its_lease_lapses() {
    let store = MemoryStore::default();
    let lease = Duration::from_millis(40);
    assert!(store.lock("l", "one", lease).await.unwrap());
    assert!(!store.lock("l", "two", lease).await.unwrap());
    assert!(!store.renew_lock("l", "two", lease).await.unwrap());
    assert!(store.renew_lock("l", "one", lease).await.unwrap());
    // Only the holder releases it.
    store.unlock("l", "two").await.unwrap();
    assert!(!store.lock("l", "two", lease).await.unwrap());
    store.unlock("l", "one").await.unwrap();
    assert!(store.lock("l", "two", lease).await.unwrap());
    // A holder that disappears blocks others for one lease at most.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(store.lock("l", "three", lease).await.unwrap());
}

#[rocket::async_test]
async fn a_revoked_session_is_refused_from_memory() {
    let store = MemoryStore::default();
    let now = crate::clock::now();
    let facts = SessionFacts {
        id: "session-1",
        sid: None,
        sub: "alice",
        created: now,
        idp: None,
    };
    assert!(!store.is_revoked(&facts).unwrap());
    store
        .revoke(Revocation::session("session-1", now + 60))
        .await
        .unwrap();
    assert!(store.is_revoked(&facts).unwrap());
}

#[rocket::async_test]
async fn expired_entries_are_swept_to_make_room() {
    let store = MemoryStore::new(2);
    assert!(store
        .record_once("consumed-state:a", Duration::from_millis(10))
        .await
        .unwrap());
    assert!(store
        .record_once("consumed-state:b", Duration::from_secs(60))
        .await
        .unwrap());
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(store
        .record_once("consumed-state:c", Duration::from_secs(60))
        .await
        .unwrap());
    assert!(store.has("consumed-state:b"));
    assert!(store.has("consumed-state:c"));
}
