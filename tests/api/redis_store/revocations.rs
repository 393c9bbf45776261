//! Revocations travel between instances (by message, and by the full read of a late
//! starter); a lost feed is trusted for its grace period only, and heals without a new store.

use std::time::{Duration, Instant};

use super::{facts, now, out_of_sync, started, store, until, until_async, Backend, MINUTE, PREFIX};
use crate::helpers;
use crate::helpers::bff::Store;
use crate::helpers::bff::{Revocation, SessionFacts};
use crate::helpers::redis::{RedisCluster, RedisServer};

on_standalone_and_cluster!(
    a_revocation_reaches_another_instance_within_a_second,
    an_instance_started_after_a_revocation_reads_it,
);

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
        idp: None,
    };
    a.revoke(Revocation::idp_session("idp-2", now(), now() + 60))
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
        idp: None,
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
        idp: None,
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
