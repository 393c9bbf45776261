//! `RedisStore` against real Redis: a standalone server and a cluster of three masters, both
//! started by the test on free ports and stopped by PID. Each store operation keeps its
//! promise (single use, expiry, sets, leased locks), revocations travel between instances
//! (by message, and by the full read of a late starter), a lost feed is trusted for its grace
//! period only, an outage gives errors rather than panics and heals without a new store, and
//! every key carries the prefix. Timing checks poll with deadlines, never fixed sleeps.

use crate::helpers;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use helpers::bff::{
    redis_settings, RedisSettings, RedisStore, Revocation, SessionFacts, Store, StoreError,
};
use helpers::redis::{RedisCluster, RedisServer};
use rocket::figment::Figment;

/// A Redis the scenarios run against.
trait Backend {
    fn url(&self) -> String;
    fn keys(&self) -> Vec<String>;
}

impl Backend for RedisServer {
    fn url(&self) -> String {
        RedisServer::url(self)
    }
    fn keys(&self) -> Vec<String> {
        RedisServer::keys(self)
    }
}

impl Backend for RedisCluster {
    fn url(&self) -> String {
        RedisCluster::url(self)
    }
    fn keys(&self) -> Vec<String> {
        RedisCluster::keys(self)
    }
}

/// Runs each scenario once against a standalone server and once against a cluster:
/// `<scenario>::standalone` and `<scenario>::cluster`.
macro_rules! on_standalone_and_cluster {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn standalone() {
                let redis = super::RedisServer::start();
                super::$scenario(&redis).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cluster() {
                let redis = super::RedisCluster::start();
                super::$scenario(&redis).await;
            }
        }
    )*};
}

on_standalone_and_cluster!(
    record_once_claims_a_key_once_until_it_expires,
    two_stores_racing_for_one_key_let_exactly_one_win,
    values_are_stored_replaced_removed_and_expire,
    sets_collect_members_and_live_as_long_as_their_longest_member,
    a_lock_has_one_owner_who_alone_renews_or_releases_it_and_a_lapsed_lease_frees_it,
    a_revocation_reaches_another_instance_within_a_second,
    an_instance_started_after_a_revocation_reads_it,
    every_key_carries_the_prefix,
);

const PREFIX: &str = "test-bff:";

fn settings(url: &str) -> RedisSettings {
    let figment = Figment::new()
        .merge(("oidc.redis_url", url))
        .merge(("oidc.redis_key_prefix", PREFIX))
        .merge(("oidc.redis_command_timeout_ms", 500))
        .merge(("oidc.redis_connect_timeout_ms", 1000))
        .merge(("oidc.redis_sync_grace_secs", 3));
    redis_settings(&figment)
        .expect("valid Redis settings")
        .expect("a Redis URL")
}

fn store(url: &str) -> Arc<RedisStore> {
    Arc::new(RedisStore::new(&settings(url)).expect("a usable URL"))
}

/// A store whose revocation feed runs, once it has read the list.
async fn started(url: &str) -> Arc<RedisStore> {
    let store = store(url);
    store.start();
    until(
        "the first read of the revocations",
        Duration::from_secs(10),
        || store.is_revoked(&facts("probe")).is_ok(),
    )
    .await;
    store
}

fn facts(id: &str) -> SessionFacts<'_> {
    SessionFacts {
        id,
        sid: Some("idp-session"),
        sub: "alice",
        created: now(),
    }
}

fn now() -> i64 {
    helpers::bff::app_now()
}

/// Polls `check` until it holds, every 10 ms; panics after `limit`. Returns the time it took.
async fn until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

/// Polls an async `check` until it holds; panics after `limit`.
async fn until_async<F, Fut>(what: &str, limit: Duration, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    helpers::wait_until(limit, what, check).await;
}

const MINUTE: Duration = Duration::from_secs(60);

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

async fn sets_collect_members_and_live_as_long_as_their_longest_member(redis: &dyn Backend) {
    let store = store(&redis.url());
    assert_eq!(store.set_members("sessions-of-sub:x").await, Ok(vec![]));
    let short = Duration::from_millis(300);
    store
        .add_to_set("sessions-of-sub:x", "a", short)
        .await
        .unwrap();
    // A longer time to live extends the set; a shorter one later does not shorten it.
    store
        .add_to_set("sessions-of-sub:x", "b", Duration::from_secs(2))
        .await
        .unwrap();
    store
        .add_to_set("sessions-of-sub:x", "c", short)
        .await
        .unwrap();
    let mut members = store.set_members("sessions-of-sub:x").await.unwrap();
    members.sort();
    assert_eq!(members, ["a", "b", "c"]);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        store.set_members("sessions-of-sub:x").await.unwrap().len(),
        3,
        "still there after the shorter time to live"
    );
    until_async("the set expires", Duration::from_secs(5), || async {
        store.set_members("sessions-of-sub:x").await == Ok(vec![])
    })
    .await;
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

async fn a_revocation_reaches_another_instance_within_a_second(redis: &dyn Backend) {
    let (a, b) = (started(&redis.url()).await, started(&redis.url()).await);
    let session = facts("session-1");
    assert_eq!(b.is_revoked(&session), Ok(false));
    a.revoke(Revocation::session("session-1", now() + 60))
        .await
        .unwrap();
    assert_eq!(
        a.is_revoked(&session),
        Ok(true),
        "at once where it was made"
    );
    let took = until("B refuses the session", Duration::from_secs(1), || {
        b.is_revoked(&session) == Ok(true)
    })
    .await;
    assert!(took <= Duration::from_secs(1), "{took:?}");
    assert_eq!(b.is_revoked(&facts("session-2")), Ok(false));

    // By IdP session and by user too.
    let other = SessionFacts {
        id: "session-3",
        sid: Some("idp-2"),
        sub: "bob",
        created: now() - 10,
    };
    a.revoke(Revocation::idp_session("idp-2", now() + 60))
        .await
        .unwrap();
    until("B refuses the IdP session", Duration::from_secs(1), || {
        b.is_revoked(&other) == Ok(true)
    })
    .await;
    let carol = SessionFacts {
        id: "session-4",
        sid: None,
        sub: "carol",
        created: now() - 10,
    };
    a.revoke(Revocation::subject("carol", now() - 5, now() + 60))
        .await
        .unwrap();
    until(
        "B refuses the user's earlier sessions",
        Duration::from_secs(1),
        || b.is_revoked(&carol) == Ok(true),
    )
    .await;
    let later = SessionFacts {
        created: now(),
        ..carol
    };
    assert_eq!(b.is_revoked(&later), Ok(false), "a later login stays valid");
}

async fn an_instance_started_after_a_revocation_reads_it(redis: &dyn Backend) {
    let a = store(&redis.url());
    a.revoke(Revocation::session("session-1", now() + 60))
        .await
        .unwrap();
    a.revoke(Revocation::session("expired", now() - 1))
        .await
        .unwrap();
    let late = started(&redis.url()).await;
    assert_eq!(late.is_revoked(&facts("session-1")), Ok(true));
    assert_eq!(late.is_revoked(&facts("expired")), Ok(false));
    assert_eq!(late.is_revoked(&facts("session-2")), Ok(false));
}

async fn every_key_carries_the_prefix(redis: &dyn Backend) {
    let store = started(&redis.url()).await;
    store.record_once("consumed-state:k", MINUTE).await.unwrap();
    store.put("tokens:{k}", "v".into(), MINUTE).await.unwrap();
    store
        .add_to_set("sessions-of-sid:k", "k", MINUTE)
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

fn out_of_sync(result: Result<bool, StoreError>) -> bool {
    matches!(result, Err(StoreError::OutOfSync(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_is_out_of_sync_until_its_first_full_read() {
    let redis = RedisServer::start();
    let never_started = store(&redis.url());
    assert!(out_of_sync(never_started.is_revoked(&facts("s"))));
    // Started while Redis is away: no read, so no trust.
    let port = helpers::free_port();
    let away = store(&format!("redis://127.0.0.1:{port}"));
    away.start();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(out_of_sync(away.is_revoked(&facts("s"))));
    let present = started(&redis.url()).await;
    assert_eq!(present.is_revoked(&facts("s")), Ok(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_feed_keeps_one_subscription_through_its_pings() {
    let redis = RedisServer::start();
    let store = started(&redis.url()).await;
    let subscribers = || redis.cli(&["client", "list", "type", "pubsub"]);
    let before = subscribers();
    assert_eq!(before.lines().count(), 1, "{before}");
    // Three health checks (one a second) pass without a new subscription.
    let pings_in = |stats: &str| -> u32 {
        stats
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_ping:calls="))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    until("three health checks", Duration::from_secs(10), || {
        pings_in(&redis.cli(&["info", "commandstats"])) >= 3
    })
    .await;
    let id = |list: &str| list.split_whitespace().next().map(str::to_string);
    assert_eq!(id(&subscribers()), id(&before));
    let stats = redis.cli(&["info", "commandstats"]);
    let pings = pings_in(&stats);
    assert!(pings >= 3, "{stats}");
    assert_eq!(store.is_revoked(&facts("s")), Ok(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_stopped_the_copy_answers_for_the_grace_period_then_out_of_sync_and_both_recover(
) {
    let mut redis = RedisServer::start();
    let (a, b) = (started(&redis.url()).await, started(&redis.url()).await);
    a.revoke(Revocation::session("ended", now() + 60))
        .await
        .unwrap();
    until("B has the revocation", Duration::from_secs(1), || {
        b.is_revoked(&facts("ended")) == Ok(true)
    })
    .await;

    redis.stop();
    let stopped = Instant::now();
    let grace = Duration::from_secs(3);
    // Within the grace period: the last copy answers.
    assert_eq!(b.is_revoked(&facts("ended")), Ok(true));
    assert_eq!(b.is_revoked(&facts("live")), Ok(false));
    until("B stops trusting its copy", grace * 3, || {
        out_of_sync(b.is_revoked(&facts("live")))
    })
    .await;
    assert!(
        stopped.elapsed() >= grace,
        "out of sync after {:?}, before the grace period",
        stopped.elapsed()
    );
    assert!(out_of_sync(b.is_revoked(&facts("ended"))));

    // Back, with the same stores: the feed resubscribes and rereads, commands work again.
    redis.start_again();
    until("B trusts its copy again", Duration::from_secs(10), || {
        b.is_revoked(&facts("live")) == Ok(false)
    })
    .await;
    assert_eq!(b.is_revoked(&facts("ended")), Ok(true), "the copy was kept");
    until_async(
        "A's commands work again",
        Duration::from_secs(10),
        || async { a.put("tokens:{x}", "v".into(), MINUTE).await.is_ok() },
    )
    .await;
    until("A's feed is back", Duration::from_secs(10), || {
        a.is_revoked(&facts("live")).is_ok()
    })
    .await;
    a.revoke(Revocation::session("after", now() + 60))
        .await
        .unwrap();
    until(
        "B hears of revocations again",
        Duration::from_secs(1),
        || b.is_revoked(&facts("after")) == Ok(true),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_survive_a_restart_of_a_persistent_redis() {
    let mut redis = RedisServer::start_persistent();
    let a = started(&redis.url()).await;
    a.revoke(Revocation::session("ended", now() + 600))
        .await
        .unwrap();
    redis.restart();
    let late = started(&redis.url()).await;
    assert_eq!(late.is_revoked(&facts("ended")), Ok(true));
    assert_eq!(late.is_revoked(&facts("live")), Ok(false));
    let keys = redis.keys();
    assert_eq!(keys, [format!("{PREFIX}revocations")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_every_operation_answers_unavailable() {
    let mut redis = RedisServer::start();
    let used = store(&redis.url());
    used.put("tokens:{a}", "v".into(), MINUTE).await.unwrap();
    redis.stop();
    let fresh = store(&redis.url());
    for store in [&used, &fresh] {
        let unavailable = |result: Result<(), StoreError>| {
            assert!(
                matches!(result, Err(StoreError::Unavailable(_))),
                "{result:?}"
            )
        };
        unavailable(store.record_once("k", MINUTE).await.map(|_| ()));
        unavailable(store.put("k", "v".into(), MINUTE).await);
        unavailable(store.get("k").await.map(|_| ()));
        unavailable(store.remove("k").await);
        unavailable(store.add_to_set("s", "m", MINUTE).await);
        unavailable(store.set_members("s").await.map(|_| ()));
        unavailable(store.lock("l", "o", MINUTE).await.map(|_| ()));
        unavailable(store.renew_lock("l", "o", MINUTE).await.map(|_| ()));
        unavailable(store.unlock("l", "o").await);
        unavailable(store.revoke(Revocation::session("x", now() + 60)).await);
        unavailable(store.ping().await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_stops_answering_gives_a_timeout_within_the_command_timeout() {
    let redis = RedisServer::start();
    let store = store(&redis.url());
    store.ping().await.unwrap();
    redis.pause();
    let start = Instant::now();
    let result = store.get("k").await;
    let took = start.elapsed();
    redis.resume();
    assert_eq!(result, Err(StoreError::Timeout));
    // 500 ms of command timeout, and room for a loaded machine.
    assert!(took < Duration::from_millis(1500), "{took:?}");
    until_async("answers again", Duration::from_secs(5), || async {
        store.get("k").await == Ok(None)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_url_to_a_plain_server_fails_without_a_panic() {
    let redis = RedisServer::start();
    let store = store(&format!("rediss://127.0.0.1:{}", redis.port));
    let result = store.ping().await;
    assert!(
        matches!(
            result,
            Err(StoreError::Unavailable(_)) | Err(StoreError::Timeout)
        ),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_keeps_its_records_in_redis_when_a_redis_url_is_set() {
    let redis = RedisServer::start();
    let url = redis.url();
    let app = helpers::app_with(|f| {
        f.merge(("oidc.redis_url", url.as_str()))
            .merge(("oidc.redis_key_prefix", PREFIX))
    })
    .await;
    assert_eq!(app.login().await.status().code, 303);
    let keys = redis.keys();
    assert!(
        keys.iter()
            .any(|k| k.starts_with(&format!("{PREFIX}consumed-state:"))),
        "{keys:?}"
    );
    until_async(
        "the session is accepted",
        Duration::from_secs(10),
        || async { app.call_api().await.status().code == 200 },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_redis_url_stops_the_app_with_one_line_naming_it() {
    let idp = helpers::idp::TestIdp::start().await;
    let figment = helpers::figment(&idp.issuer).merge(("oidc.redis_url", "redis://u:pw@host:x"));
    let Err(error) = helpers::bff::build_from(figment) else {
        panic!("the app started with a bad REDIS_URL");
    };
    let message = error.to_string();
    assert!(message.starts_with("REDIS_URL"), "{message}");
    assert!(!message.contains("pw@"), "{message}");
}
