//! `RedisStore`, the store several instances share (`REDIS_URL`): a standalone Redis or a
//! Redis Cluster. Records live in Redis under `REDIS_KEY_PREFIX`; revocations are also kept
//! in a sorted set and announced on a channel, and each instance checks sessions against its
//! own copy (see `sync`), so a request never waits for Redis to know whether a session ended.

mod commands;
mod connection;
mod sync;

use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

use crate::config::{ConfigError, RedisSettings};
use crate::store::memory::DEFAULT_ENDED_SESSIONS;
use connection::Redis;
use sync::{Feed, Names};

/// The shared store on Redis (standalone or cluster). Connects on first use and reconnects by
/// itself; a command that fails or takes longer than the command timeout answers
/// `Unavailable` or `Timeout`. Its copy of the revocations is fed once [`Store::start`]
/// has run (the BFF calls it at liftoff); until the first complete read, sessions are
/// `OutOfSync`.
///
/// [`Store::start`]: crate::store::Store::start
pub struct RedisStore {
    redis: Arc<Redis>,
    feed: Arc<Feed>,
    names: Arc<Names>,
    prefix: String,
    follower: Mutex<Option<JoinHandle<()>>>,
}

impl RedisStore {
    /// A store for these settings. Fails only on a URL the Redis client cannot use; Redis
    /// itself is not contacted yet.
    pub fn new(settings: &RedisSettings) -> Result<Self, ConfigError> {
        let prefix = settings.key_prefix.clone();
        Ok(Self {
            redis: Arc::new(Redis::new(settings)?),
            feed: Arc::new(Feed::new(DEFAULT_ENDED_SESSIONS, settings.sync_grace)),
            names: Arc::new(Names {
                revocations: format!("{prefix}revocations"),
                channel: format!("{prefix}revocations"),
            }),
            prefix,
            follower: Mutex::new(None),
        })
    }

    /// Room for `capacity` ended sessions in this instance's copy (`ENDED_SESSIONS_CAPACITY`);
    /// the shared set is kept as bounded as the copy of the instance that writes to it.
    pub fn with_ended_sessions_capacity(mut self, capacity: usize) -> Self {
        self.feed = Arc::new(Feed::new(capacity, self.feed.grace));
        self
    }

    /// The Redis key of one of the app's keys.
    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Starts the revocation feed, once; later calls do nothing.
    fn follow(&self) {
        let Ok(mut follower) = self.follower.lock() else {
            return;
        };
        if follower.is_some() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(
                "the Redis store was started outside a Tokio runtime: sessions stay out of sync"
            );
            return;
        };
        let task = sync::follow(self.redis.clone(), self.feed.clone(), self.names.clone());
        *follower = Some(runtime.spawn(task));
    }
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        if let Ok(mut follower) = self.follower.lock() {
            if let Some(task) = follower.take() {
                task.abort();
            }
        }
    }
}
