//! The revocation feed: each instance's copy of the revocations, kept in step with Redis off
//! the request path. A background task subscribes to the revocation channel, then reads the
//! whole durable set (so nothing published before or during the read is missed), applies each
//! message, checks the subscription with a ping every second, and starts over on any failure.
//! Requests only look at the copy, and at how long ago the feed was last known to work.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::LazyLock;

use redis::{cmd, Script, Value};
use rocket::futures::StreamExt;

use super::connection::{store_error, Redis};
use crate::clock;
use crate::store::{Revocation, RevocationList, SessionFacts, StoreError};

/// The feed state while the subscription works.
const LIVE: u64 = u64::MAX;
/// The feed state before the first complete read.
const NEVER_READ: u64 = u64::MAX - 1;
/// How often the subscription is checked: a connection that died silently is noticed within
/// about this plus the command timeout.
const HEALTH_CHECK: Duration = Duration::from_secs(1);
/// How often expired revocations are removed from the durable set (by every instance; the
/// command is idempotent and cheap).
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// The first wait before subscribing again, doubled up to `LAST_RETRY` while Redis stays away.
const FIRST_RETRY: Duration = Duration::from_millis(50);
const LAST_RETRY: Duration = Duration::from_secs(2);
/// Revocations read per `ZSCAN` call, so a long list never holds Redis for long.
const PAGE: usize = 1000;

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

/// The names of the revocations' sorted set and channel (under the key prefix).
pub(super) struct Names {
    pub(super) revocations: String,
    pub(super) channel: String,
}

/// This instance's copy of the revocations and whether it can be trusted.
pub(super) struct Feed {
    pub(super) list: RevocationList,
    epoch: Instant,
    /// `LIVE`, `NEVER_READ`, or the milliseconds since `epoch` when the feed was lost.
    state: AtomicU64,
    pub(super) grace: Duration,
}

impl Feed {
    /// A copy not read yet, trusted for `grace` after the feed is lost.
    pub(super) fn new(capacity: usize, grace: Duration) -> Self {
        Self {
            list: RevocationList::new(capacity),
            epoch: Instant::now(),
            state: AtomicU64::new(NEVER_READ),
            grace,
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 2)
    }

    /// From the copy, unless it was never complete or the feed has been lost for longer than
    /// the grace period: then `OutOfSync`, and the caller refuses to vouch for the session.
    pub(super) fn is_revoked(&self, session: &SessionFacts<'_>) -> Result<bool, StoreError> {
        match self.state.load(Ordering::Acquire) {
            LIVE => {}
            NEVER_READ => return Err(StoreError::OutOfSync("not yet read from Redis".to_string())),
            lost_at => {
                let lost_for = Duration::from_millis(self.now().saturating_sub(lost_at));
                if lost_for > self.grace {
                    return Err(StoreError::OutOfSync(format!(
                        "no news from Redis for {} s",
                        lost_for.as_secs()
                    )));
                }
            }
        }
        Ok(self.list.is_revoked(session))
    }

    fn never_read(&self) -> bool {
        self.state.load(Ordering::Acquire) == NEVER_READ
    }

    fn mark_live(&self) {
        self.state.store(LIVE, Ordering::Release);
    }

    /// Notes when the feed was lost; `true` if it was live until now.
    fn mark_lost(&self) -> bool {
        self.state
            .compare_exchange(LIVE, self.now(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// Keeps `feed` in step with Redis until the task is aborted (when the store is dropped).
pub(super) async fn follow(redis: Arc<Redis>, feed: Arc<Feed>, names: Arc<Names>) {
    let nodes = redis.subscribers().len().max(1);
    let mut node = 0;
    let mut retry = FIRST_RETRY;
    // One warning per outage, not one per attempt (a loss warns when it happens).
    let mut warned_unread = false;
    loop {
        let Err(error) = subscribe_and_apply(&redis, &feed, &names, node).await;
        if feed.mark_lost() {
            tracing::warn!(
                %error,
                grace_secs = feed.grace.as_secs(),
                "revocation feed lost: sessions are checked against the last copy for the grace period, then refused with 503 until Redis is back"
            );
            retry = FIRST_RETRY;
        } else if !warned_unread && feed.never_read() {
            tracing::warn!(%error, "revocation feed: Redis not read yet; sessions answer 503 until it is");
            warned_unread = true;
        } else {
            tracing::debug!(%error, "revocation feed: Redis still unreachable");
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
        // In a cluster any node delivers every message: try the next one.
        node = (node + 1) % nodes;
    }
}

/// Subscribes through node `node`, reads the whole set, then applies messages until the
/// subscription fails.
async fn subscribe_and_apply(
    redis: &Redis,
    feed: &Feed,
    names: &Names,
    node: usize,
) -> Result<Infallible, StoreError> {
    let client = redis
        .subscribers()
        .get(node)
        .ok_or_else(|| StoreError::Unavailable("no Redis node configured".into()))?;
    let pubsub = within(redis.connect_timeout, client.get_async_pubsub()).await?;
    let (mut sink, mut messages) = pubsub.split();
    within(redis.command_timeout, sink.subscribe(&names.channel)).await?;
    // Subscribed before reading: a revocation recorded during the read also comes as a message.
    let count = read_all(redis, feed, names).await?;
    feed.mark_live();
    tracing::info!(revocations = count, "revocation feed synchronised");
    let mut pruned: Option<Instant> = None;
    let mut health = tokio::time::interval(HEALTH_CHECK);
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else {
                    return Err(StoreError::Unavailable("the subscription was closed".into()));
                };
                match message.get_payload::<String>().ok().as_deref().and_then(Revocation::decode) {
                    Some(revocation) => {
                        feed.list.insert(&revocation);
                    }
                    None => tracing::debug!("ignored a message that is not a revocation"),
                }
            }
            _ = health.tick() => {
                within(redis.command_timeout, sink.ping::<Value>()).await?;
                if pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                    if let Err(error) = prune(redis, names).await {
                        tracing::debug!(%error, "expired revocations not pruned this time");
                    }
                    pruned = Some(Instant::now());
                }
            }
        }
    }
}

/// Merges every live revocation of the durable set into the copy; returns how many.
async fn read_all(redis: &Redis, feed: &Feed, names: &Names) -> Result<usize, StoreError> {
    let now = clock::now();
    let mut cursor: u64 = 0;
    let mut count = 0;
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    loop {
        let mut scan = cmd("ZSCAN");
        scan.arg(&names.revocations)
            .arg(cursor)
            .arg("COUNT")
            .arg(PAGE);
        let (next, flat): (u64, Vec<String>) = redis.query(&scan).await?;
        for pair in flat.chunks_exact(2) {
            let [member, score] = pair else { continue };
            let Ok(until) = score.parse::<f64>() else {
                continue;
            };
            let until = until as i64;
            if until <= now {
                continue;
            }
            if let Some(revocation) = Revocation::from_member(member, until) {
                let changes = feed.list.insert(&revocation);
                added.extend(changes.added);
                removed.extend(changes.removed);
                count += 1;
            }
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    // A copy too small for the shared set (this instance's capacity is lower than the one
    // that wrote it) folded it: the set takes the folded form too, so it stays bounded.
    record(redis, names, added.iter(), &removed).await?;
    Ok(count)
}

/// Records `added` in the shared set, telling every instance, then forgets `removed` (what a
/// full list folded or a watermark covers), so the set stays bounded and a replay after a
/// reconnect reads the folded form.
pub(super) async fn record(
    redis: &Redis,
    names: &Names,
    added: impl Iterator<Item = &Revocation>,
    removed: &[String],
) -> Result<(), StoreError> {
    for revocation in added {
        let mut revoke = REVOKE.key(&names.revocations);
        revoke
            .arg(revocation.until)
            .arg(revocation.member())
            .arg(&names.channel)
            .arg(revocation.encode());
        redis.invoke::<()>(&revoke).await?;
    }
    for removed in removed.chunks(500) {
        let mut forget = cmd("ZREM");
        forget.arg(&names.revocations).arg(removed);
        redis.query::<()>(&forget).await?;
    }
    Ok(())
}

/// Removes the revocations that have expired from the durable set.
async fn prune(redis: &Redis, names: &Names) -> Result<(), StoreError> {
    let mut remove = cmd("ZREMRANGEBYSCORE");
    remove.arg(&names.revocations).arg("-inf").arg(clock::now());
    redis.query::<()>(&remove).await
}

/// `operation` within `limit`, its errors as the store's.
async fn within<T>(
    limit: Duration,
    operation: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(limit, operation)
        .await
        .map_err(|_| StoreError::Timeout)?
        .map_err(store_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(id: &str) -> SessionFacts<'_> {
        SessionFacts {
            id,
            sid: None,
            sub: "alice",
            created: clock::now(),
            idp: None,
        }
    }

    #[test]
    fn a_copy_never_read_is_out_of_sync() {
        let feed = Feed::new(10, Duration::from_secs(30));
        assert!(matches!(
            feed.is_revoked(&facts("a")),
            Err(StoreError::OutOfSync(_))
        ));
        feed.mark_live();
        assert_eq!(feed.is_revoked(&facts("a")), Ok(false));
    }

    #[test]
    fn a_lost_feed_answers_from_the_copy_for_the_grace_period_only() {
        let feed = Feed::new(10, Duration::from_millis(50));
        feed.mark_live();
        feed.list
            .insert(&Revocation::session("a", clock::now() + 60));
        assert!(feed.mark_lost());
        assert!(!feed.mark_lost(), "the first loss is the one remembered");
        assert_eq!(feed.is_revoked(&facts("a")), Ok(true));
        assert_eq!(feed.is_revoked(&facts("b")), Ok(false));
        std::thread::sleep(Duration::from_millis(60));
        assert!(matches!(
            feed.is_revoked(&facts("b")),
            Err(StoreError::OutOfSync(_))
        ));
        feed.mark_live();
        assert_eq!(feed.is_revoked(&facts("b")), Ok(false));
    }
}
