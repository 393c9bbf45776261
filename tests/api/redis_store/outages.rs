//! An unreachable, silent or mismatched Redis gives errors, never panics.

use std::time::{Duration, Instant};

use super::{now, store, until_async, MINUTE};
use crate::helpers::bff::Store;
use crate::helpers::bff::{Revocation, StoreError};
use crate::helpers::redis::RedisServer;

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
        unavailable(store.add_to_set("s", "m", MINUTE, 5).await.map(|_| ()));
        unavailable(store.remove_from_set("s", "m").await);
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
