//! Each store operation keeps its promise (single use, expiry, sets, leased locks) and every
//! key carries the prefix, on a standalone server and on a cluster.

use std::time::Duration;

use super::{now, started, store, until_async, Backend, MINUTE, PREFIX};
use crate::helpers::bff::Revocation;
use crate::helpers::bff::Store;
use crate::helpers::redis::{RedisCluster, RedisServer};

on_standalone_and_cluster!(
    record_once_claims_a_key_once_until_it_expires,
    two_stores_racing_for_one_key_let_exactly_one_win,
    values_are_stored_replaced_removed_and_expire,
    set_members_expire_one_by_one_leave_when_removed_and_stay_within_their_limit,
    a_lock_has_one_owner_who_alone_renews_or_releases_it_and_a_lapsed_lease_frees_it,
    every_key_carries_the_prefix,
);

async fn record_once_claims_a_key_once_until_it_expires(redis: &dyn Backend) {
    let store = store(&redis.url());
    let short = Duration::from_millis(300);
    assert_eq!(store.record_once("consumed-state:a", short).await, Ok(true));
    assert_eq!(
        store.record_once("consumed-state:a", short).await,
        Ok(false)
    );
    assert_eq!(
        store.record_once("consumed-state:b", MINUTE).await,
        Ok(true)
    );
    until_async("the claim expires", Duration::from_secs(5), || async {
        store.record_once("consumed-state:a", MINUTE).await == Ok(true)
    })
    .await;
    assert_eq!(
        store.record_once("consumed-state:a", MINUTE).await,
        Ok(false)
    );
}

async fn two_stores_racing_for_one_key_let_exactly_one_win(redis: &dyn Backend) {
    let (a, b) = (store(&redis.url()), store(&redis.url()));
    for round in 0..50 {
        let key = format!("consumed-state:{round}");
        let (first, second) =
            tokio::join!(a.record_once(&key, MINUTE), b.record_once(&key, MINUTE));
        let wins = [first, second].iter().filter(|r| **r == Ok(true)).count();
        assert_eq!(wins, 1, "round {round}");
    }
}

async fn values_are_stored_replaced_removed_and_expire(redis: &dyn Backend) {
    let store = store(&redis.url());
    assert_eq!(store.get("tokens:{s1}").await, Ok(None));
    store
        .put("tokens:{s1}", "one".into(), MINUTE)
        .await
        .unwrap();
    store
        .put("tokens:{s1}", "two".into(), MINUTE)
        .await
        .unwrap();
    assert_eq!(store.get("tokens:{s1}").await, Ok(Some("two".into())));
    store.remove("tokens:{s1}").await.unwrap();
    assert_eq!(store.get("tokens:{s1}").await, Ok(None));
    store.remove("tokens:{s1}").await.unwrap();

    let short = Duration::from_millis(200);
    store
        .put("tokens:{s2}", "brief".into(), short)
        .await
        .unwrap();
    assert_eq!(store.get("tokens:{s2}").await, Ok(Some("brief".into())));
    until_async("the value expires", Duration::from_secs(5), || async {
        store.get("tokens:{s2}").await == Ok(None)
    })
    .await;
}

async fn set_members_expire_one_by_one_leave_when_removed_and_stay_within_their_limit(
    redis: &dyn Backend,
) {
    let store = store(&redis.url());
    let set = "user-sessions:x";
    assert_eq!(store.set_members(set).await, Ok(vec![]));
    let short = Duration::from_millis(300);
    let long = Duration::from_secs(5);
    for (member, ttl) in [("a", short), ("b", long), ("c", long)] {
        assert_eq!(store.add_to_set(set, member, ttl, 10).await, Ok(vec![]));
    }
    let mut members = store.set_members(set).await.unwrap();
    members.sort();
    assert_eq!(members, ["a", "b", "c"]);
    // Each member leaves on its own; the set lives as long as its last one.
    until_async("a leaves", Duration::from_secs(5), || async {
        let mut members = store.set_members(set).await.unwrap();
        members.sort();
        members == ["b", "c"]
    })
    .await;
    store.remove_from_set(set, "b").await.unwrap();
    assert_eq!(store.set_members(set).await, Ok(vec!["c".to_string()]));
    // Past the limit, the members that leave first are given back.
    assert_eq!(
        store.add_to_set(set, "d", Duration::from_secs(6), 2).await,
        Ok(vec![])
    );
    assert_eq!(
        store.add_to_set(set, "e", Duration::from_secs(7), 2).await,
        Ok(vec!["c".to_string()])
    );
    let mut members = store.set_members(set).await.unwrap();
    members.sort();
    assert_eq!(members, ["d", "e"]);
}

async fn a_lock_has_one_owner_who_alone_renews_or_releases_it_and_a_lapsed_lease_frees_it(
    redis: &dyn Backend,
) {
    let (a, b) = (store(&redis.url()), store(&redis.url()));
    let lock = "refresh-lock:{s1}";
    let lease = Duration::from_millis(400);
    assert_eq!(a.lock(lock, "one", lease).await, Ok(true));
    assert_eq!(b.lock(lock, "two", lease).await, Ok(false));
    assert_eq!(b.renew_lock(lock, "two", lease).await, Ok(false));
    assert_eq!(a.renew_lock(lock, "one", MINUTE).await, Ok(true));
    // Only the owner releases it.
    b.unlock(lock, "two").await.unwrap();
    assert_eq!(b.lock(lock, "two", lease).await, Ok(false));
    a.unlock(lock, "one").await.unwrap();
    assert_eq!(b.lock(lock, "two", lease).await, Ok(true));
    // An owner that disappears blocks the others for one lease at most.
    until_async("the lease lapses", Duration::from_secs(5), || async {
        a.lock(lock, "three", lease).await == Ok(true)
    })
    .await;
    // A former owner can neither renew nor release the new owner's lock.
    assert_eq!(b.renew_lock(lock, "two", lease).await, Ok(false));
    b.unlock(lock, "two").await.unwrap();
    assert_eq!(b.lock(lock, "four", lease).await, Ok(false));
}

async fn every_key_carries_the_prefix(redis: &dyn Backend) {
    let store = started(&redis.url()).await;
    store.record_once("consumed-state:k", MINUTE).await.unwrap();
    store.put("tokens:{k}", "v".into(), MINUTE).await.unwrap();
    store
        .add_to_set("idp-sessions:k", "k", MINUTE, 50)
        .await
        .unwrap();
    store.lock("refresh-lock:{k}", "me", MINUTE).await.unwrap();
    store
        .revoke(Revocation::session("k", now() + 60))
        .await
        .unwrap();
    let keys = redis.keys();
    assert_eq!(keys.len(), 5, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with(PREFIX)), "{keys:?}");
    assert!(keys.contains(&format!("{PREFIX}revocations")), "{keys:?}");
}
