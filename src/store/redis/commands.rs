//! What each store operation sends to Redis. Every operation touches one key, so it works
//! the same on a cluster (the app's keys that belong together already share a `{hash tag}`);
//! the steps that must not interleave with another instance's run as one Lua script.

use std::sync::LazyLock;
use std::time::Duration;

use redis::{cmd, Script};
use rocket::async_trait;

use super::RedisStore;
use crate::store::{Revocation, SessionFacts, Store, StoreError};

/// Adds a member and extends the set's life to at least the given milliseconds (a set that is
/// new has no expiry yet: `PTTL` answers -1).
static ADD_TO_SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "redis.call('SADD', KEYS[1], ARGV[1])
         if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
           redis.call('PEXPIRE', KEYS[1], ARGV[2])
         end
         return 1",
    )
});

/// Extends the lease only if the caller still holds the lock: 1 if so, else 0.
static RENEW_LOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then
           return redis.call('PEXPIRE', KEYS[1], ARGV[2])
         end
         return 0",
    )
});

/// Releases the lock only if the caller still holds it (not one taken since its lease lapsed).
static UNLOCK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then
           return redis.call('DEL', KEYS[1])
         end
         return 0",
    )
});

/// Records a revocation in the sorted set scored by its expiry (a later expiry wins) and tells
/// every instance, in one step: no instance can read the set without the new member and then
/// miss its message.
static REVOKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "redis.call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[2])
         redis.call('PUBLISH', ARGV[3], ARGV[4])
         return 1",
    )
});

/// The longest time to live sent: ten years (Redis refuses expiries past `i64` milliseconds).
const MAX_TTL_MS: u64 = 10 * 365 * 24 * 3600 * 1000;

/// A time to live in whole milliseconds, at least one (Redis refuses `PX 0`).
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis())
        .unwrap_or(MAX_TTL_MS)
        .clamp(1, MAX_TTL_MS)
}

#[async_trait]
impl Store for RedisStore {
    async fn record_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut set = cmd("SET");
        set.arg(self.key(key))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl));
        let reply: Option<String> = self.redis.query(&set).await?;
        Ok(reply.is_some())
    }

    async fn put(&self, key: &str, value: String, ttl: Duration) -> Result<(), StoreError> {
        let mut set = cmd("SET");
        set.arg(self.key(key)).arg(value).arg("PX").arg(millis(ttl));
        self.redis.query::<()>(&set).await
    }

    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.redis.query(cmd("GET").arg(self.key(key))).await
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        self.redis.query::<()>(cmd("DEL").arg(self.key(key))).await
    }

    async fn add_to_set(&self, key: &str, member: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut add = ADD_TO_SET.key(self.key(key));
        add.arg(member).arg(millis(ttl));
        self.redis.invoke::<()>(&add).await
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        self.redis.query(cmd("SMEMBERS").arg(self.key(key))).await
    }

    async fn lock(&self, key: &str, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        let mut set = cmd("SET");
        set.arg(self.key(key))
            .arg(owner)
            .arg("NX")
            .arg("PX")
            .arg(millis(lease));
        let reply: Option<String> = self.redis.query(&set).await?;
        Ok(reply.is_some())
    }

    async fn renew_lock(
        &self,
        key: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let mut renew = RENEW_LOCK.key(self.key(key));
        renew.arg(owner).arg(millis(lease));
        Ok(self.redis.invoke::<i64>(&renew).await? == 1)
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let mut unlock = UNLOCK.key(self.key(key));
        unlock.arg(owner);
        self.redis.invoke::<()>(&unlock).await
    }

    async fn revoke(&self, revocation: Revocation) -> Result<(), StoreError> {
        // This instance refuses the session at once, whatever its subscription is doing.
        self.feed.list.insert(&revocation);
        let mut revoke = REVOKE.key(&self.names.revocations);
        revoke
            .arg(revocation.until)
            .arg(revocation.member())
            .arg(&self.names.channel)
            .arg(revocation.encode());
        self.redis.invoke::<()>(&revoke).await
    }

    fn is_revoked(&self, session: &SessionFacts<'_>) -> Result<bool, StoreError> {
        self.feed.is_revoked(session)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.redis.query::<()>(&cmd("PING")).await
    }

    fn start(&self) {
        self.follow();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_to_live_are_whole_milliseconds_of_at_least_one() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_micros(1500)), 1);
        assert_eq!(millis(Duration::from_secs(2)), 2000);
        assert_eq!(millis(Duration::MAX), MAX_TTL_MS);
    }
}
