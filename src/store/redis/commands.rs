//! What each store operation sends to Redis. Every operation touches one key, so it works
//! the same on a cluster (the app's keys that belong together already share a `{hash tag}`);
//! the steps that must not interleave with another instance's run as one Lua script.

use std::sync::LazyLock;
use std::time::Duration;

use redis::{cmd, Script};
use rocket::async_trait;

use super::{sync, RedisStore};
use crate::store::local::now_ms;
use crate::store::{Revocation, SessionFacts, Store, StoreError};

/// Adds a member scored by when it leaves (Unix milliseconds; a later one wins), drops the
/// members that have left, keeps at most `ARGV[4]` (popping those that leave first, which it
/// returns) and keeps the set as long as its last member.
static ADD_TO_SET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
         redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
         local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[4])
         local left = {}
         if excess > 0 then
           local popped = redis.call('ZPOPMIN', KEYS[1], excess)
           for i = 1, #popped, 2 do left[#left + 1] = popped[i] end
         end
         local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
         if last[2] then
           redis.call('PEXPIREAT', KEYS[1], math.floor(tonumber(last[2])) + 1)
         end
         return left",
    )
});

/// The members that have not left yet.
static SET_MEMBERS: LazyLock<Script> = LazyLock::new(|| {
    Script::new("return redis.call('ZRANGE', KEYS[1], '(' .. ARGV[1], '+inf', 'BYSCORE')")
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

    async fn add_to_set(
        &self,
        key: &str,
        member: &str,
        ttl: Duration,
        max_members: usize,
    ) -> Result<Vec<String>, StoreError> {
        let now = now_ms();
        let mut add = ADD_TO_SET.key(self.key(key));
        add.arg(member)
            .arg(now.saturating_add(millis(ttl)))
            .arg(now)
            .arg(max_members.max(1));
        self.redis.invoke(&add).await
    }

    async fn remove_from_set(&self, key: &str, member: &str) -> Result<(), StoreError> {
        self.redis
            .query::<()>(cmd("ZREM").arg(self.key(key)).arg(member))
            .await
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let mut members = SET_MEMBERS.key(self.key(key));
        members.arg(now_ms());
        self.redis.invoke(&members).await
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
        let changes = self.feed.list.insert(&revocation);
        let added = std::iter::once(&revocation).chain(&changes.added);
        sync::record(&self.redis, &self.names, added, &changes.removed).await
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
