//! The app with a Redis URL: its records in Redis, or one line naming a bad URL.

use std::time::Duration;

use super::{until_async, PREFIX};
use crate::helpers;
use crate::helpers::redis::RedisServer;

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
