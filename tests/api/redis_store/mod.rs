//! `RedisStore` against real Redis: a standalone server and a cluster of three masters, both
//! started by the test on free ports and stopped by PID. Each store operation keeps its
//! promise (single use, expiry, sets, leased locks), revocations travel between instances
//! (by message, and by the full read of a late starter), a lost feed is trusted for its grace
//! period only, an outage gives errors rather than panics and heals without a new store, and
//! every key carries the prefix. Timing checks poll with deadlines, never fixed sleeps.
//!
//! `operations`: each store operation's promise and the key prefix; `revocations`: revocations
//! between instances and the feed that carries them; `outages`: errors rather than panics;
//! `app`: the app with a Redis URL.

use crate::helpers;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use helpers::bff::{redis_settings, RedisSettings, RedisStore, SessionFacts, Store, StoreError};
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

// (After the macro, which the scenarios' modules use.)
mod app;
mod operations;
mod outages;
mod revocations;

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
        idp: None,
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

fn out_of_sync(result: Result<bool, StoreError>) -> bool {
    matches!(result, Err(StoreError::OutOfSync(_)))
}
