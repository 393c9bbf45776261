//! Every change to the file goes through one thread that applies the changes waiting at that
//! moment in one write transaction and commits it (group commit): a burst of logins or
//! logouts shares one `fsync` instead of queueing for one each. While commits follow each
//! other closely, the thread waits a moment before the next one, so that more changes share
//! it (a commit window: a little latency for much less CPU per change under load).
//!
//! What must survive a crash (a revocation, a logout `jti`, tokens) is committed durably: its
//! caller hears back once it is on disk. Used `state`s (see [`super::consumed`]), changes to
//! the session sets (which only speed up a back-channel logout and count a user's sessions)
//! and sweeps are committed without an `fsync` when nothing durable shares their batch; the
//! next durable commit, or closing the file, writes them too.

use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use redb::{Database, Durability, ReadableTable, WriteTransaction};
use tokio::sync::oneshot;

use super::consumed::UsedValues;
use super::sweep::Expired;
use super::tables::{self, Record, META, RECORDS, REVOCATIONS, SET_MEMBERS};
use crate::store::StoreError;

/// At most this many changes share a transaction, so one caller never waits behind an
/// unbounded batch.
const MAX_BATCH: usize = 512;

/// One change, with what its caller needs back.
pub(super) enum Change {
    /// Records `key` until `until_ms` unless live: `Done::Claimed(false)` when it was.
    RecordOnce { key: String, until_ms: u64 },
    /// Records a used one-time value, already checked and kept in memory until committed.
    Used { key: String, until_ms: u64 },
    /// Stores a value until `until_ms`.
    Put {
        key: String,
        value: String,
        until_ms: u64,
    },
    /// Forgets a record.
    Remove { key: String },
    /// Adds a set member until `until_ms`, and forgets `gone`, members seen to have left.
    AddToSet {
        key: String,
        member: String,
        until_ms: u64,
        gone: Vec<String>,
    },
    /// Removes a set member.
    RemoveFromSet { key: String, member: String },
    /// Records revocations (member → until, Unix seconds; the later expiry wins) and forgets
    /// others.
    Revocations {
        add: Vec<(String, i64)>,
        remove: Vec<String>,
    },
    /// Forgets these expired records, members and revocations, unless renewed meanwhile.
    Expire(Expired),
    /// Writes everything queued, durably, marks the file closed, then says so (when the store
    /// is dropped).
    Flush(mpsc::Sender<()>),
}

impl Change {
    /// Whether its caller must not hear back before it is on disk.
    fn must_be_durable(&self) -> bool {
        match self {
            Self::RecordOnce { .. } | Self::Put { .. } | Self::Revocations { .. } => true,
            Self::Used { .. } | Self::Remove { .. } => false,
            Self::AddToSet { .. } | Self::RemoveFromSet { .. } => false,
            Self::Expire(_) => false,
            Self::Flush(_) => true,
        }
    }
}

/// What a change answers.
pub(super) enum Done {
    Ok,
    Claimed(bool),
}

type Reply = oneshot::Sender<Result<Done, StoreError>>;

/// A change, with the caller waiting for it (`None`: nobody waits).
type Queued = (Change, Option<Reply>);

/// The changes waiting for the writer thread, in the order they came. A change nobody waits
/// for does not wake the thread (a login would otherwise cost a thread switch or two): it
/// waits for the next change someone waits for, a full batch, or `UNWAITED_FOR_AT_MOST`.
#[derive(Default)]
struct Queue {
    changes: Vec<Queued>,
    /// How many of `changes` someone waits for.
    waited: usize,
    /// Since when changes nobody waits for have been queued.
    unwaited_since: Option<Instant>,
    /// Every `Writer` is gone: write what is left and stop.
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Shared {
    /// The queue, even after a panic elsewhere: it holds plain data, whole between changes.
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `change`; `false` once the writer has stopped.
    fn push(&self, change: Change, reply: Option<Reply>) -> bool {
        let mut queue = self.lock();
        if queue.closed {
            return false;
        }
        let wake = match reply.is_some() {
            true => {
                queue.waited += 1;
                true
            }
            // The thread sleeps without a deadline until the first such change comes.
            false => queue.unwaited_since.is_none() || queue.changes.len() + 1 >= MAX_BATCH,
        };
        queue.unwaited_since.get_or_insert_with(Instant::now);
        queue.changes.push((change, reply));
        drop(queue);
        if wake {
            self.wake.notify_one();
        }
        true
    }
}

/// Closes the queue when the last `Writer` goes.
struct Closer(Arc<Shared>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.wake.notify_one();
    }
}

/// The handle callers send changes through.
#[derive(Clone)]
pub(super) struct Writer {
    shared: Arc<Shared>,
    _closer: Arc<Closer>,
}

impl Writer {
    /// Starts the writer thread for `db`, which tells `used` what it has committed; it ends
    /// when the last `Writer` is dropped.
    pub(super) fn start(db: Arc<Database>, used: Arc<UsedValues>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
        });
        let thread = shared.clone();
        std::thread::Builder::new()
            .name("oidc-bff-store".into())
            .spawn(move || write_loop(&db, &used, &thread))?;
        Ok(Self {
            _closer: Arc::new(Closer(shared.clone())),
            shared,
        })
    }

    /// Writes everything queued durably and waits (a little) until it is done; blocks the
    /// thread, so only for closing the store.
    pub(super) fn flush_blocking(&self) -> bool {
        let (done, wait) = mpsc::channel();
        let (reply, _) = oneshot::channel();
        if !self.shared.push(Change::Flush(done), Some(reply)) {
            return false;
        }
        wait.recv_timeout(Duration::from_secs(5)).is_ok()
    }

    /// Queues `change` for the next commit without waiting for it (changes whose loss in a
    /// crash costs nothing or is covered otherwise: session sets, used `state`s).
    pub(super) fn send(&self, change: Change) {
        if !self.shared.push(change, None) {
            tracing::warn!("the store file's writer has stopped: a change is not written");
        }
    }

    /// Applies `change` and waits until it is on disk.
    pub(super) async fn apply(&self, change: Change) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        if !self.shared.push(change, Some(reply)) {
            return Err(stopped());
        }
        answer.await.map_err(|_| stopped())?
    }
}

/// Applies `change` at once, on the caller's thread (at start-up, before any request).
pub(super) fn apply_now(db: &Database, change: &Change) -> Result<Done, redb::Error> {
    let write = db.begin_write()?;
    let done = apply(&write, change, crate::store::local::now_ms())?;
    write.commit()?;
    Ok(done)
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the store file's writer has stopped".into())
}

/// Changes nobody waits for (session sets, used `state`s) ride along with the next commit
/// someone waits for, or are committed on their own once they have waited this long.
const UNWAITED_FOR_AT_MOST: Duration = Duration::from_millis(500);

/// A commit that starts less than this after the previous one ended is one of a stream...
const BACK_TO_BACK: Duration = Duration::from_millis(2);
/// ...and first waits at most this long for more changes to join it: until as many callers wait
/// as the last commit answered (they tend to come back at once: a client's next logout, a
/// browser's next step), and at least two. Measured with bench/logins.sh (~1,500 code-flow
/// logins/s): 20-30% less server CPU per login with the file store. Waiting for the last
/// commit's number, rather than for the whole window, keeps a burst of a few clients from
/// paying the window on every commit. A change after a quiet moment is committed at once.
const COMMIT_WINDOW: Duration = Duration::from_millis(1);

fn write_loop(db: &Database, used: &UsedValues, shared: &Shared) {
    let mut last_commit: Option<Instant> = None;
    let mut last_answered = 0;
    loop {
        let (batch, last) = {
            let mut queue = shared.lock();
            while queue.waited == 0 && queue.changes.len() < MAX_BATCH && !queue.closed {
                let Some(since) = queue.unwaited_since else {
                    queue = shared
                        .wake
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner);
                    continue;
                };
                let left = UNWAITED_FOR_AT_MOST.saturating_sub(since.elapsed());
                if left.is_zero() {
                    break;
                }
                queue = (shared.wake.wait_timeout(queue, left))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            if last_commit.is_some_and(|at| at.elapsed() < BACK_TO_BACK) {
                let expected = last_answered.max(2);
                let deadline = Instant::now() + COMMIT_WINDOW;
                while queue.waited < expected && queue.changes.len() < MAX_BATCH && !queue.closed {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    // The lock is released while waiting: callers keep queueing.
                    queue = (shared.wake.wait_timeout(queue, left))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            }
            let take = queue.changes.len().min(MAX_BATCH);
            let batch: Vec<Queued> = queue.changes.drain(..take).collect();
            queue.waited = queue.changes.iter().filter(|(_, r)| r.is_some()).count();
            queue.unwaited_since = (!queue.changes.is_empty()).then(Instant::now);
            // The store is gone: what is left goes to disk, and the thread ends.
            (batch, queue.closed && queue.changes.is_empty())
        };
        last_answered = batch.iter().filter(|(_, reply)| reply.is_some()).count();
        write(db, used, batch);
        last_commit = Some(Instant::now());
        if last {
            return;
        }
    }
}

/// Commits `batch` and tells each waiting caller how it went.
fn write(db: &Database, used: &UsedValues, batch: Vec<Queued>) {
    if batch.is_empty() {
        return;
    }
    match commit(db, &batch) {
        Ok(answers) => {
            for ((change, reply), answer) in batch.into_iter().zip(answers) {
                match change {
                    Change::Used { key, .. } => used.committed(&key),
                    Change::Flush(done) => {
                        let _ = done.send(());
                    }
                    _ => {}
                }
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(answer));
                }
            }
        }
        Err(error) => {
            tracing::error!(%error, "the store file could not be written");
            let error = StoreError::Unavailable(format!("the store file: {error}"));
            for reply in batch.into_iter().filter_map(|(_, reply)| reply) {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

/// Applies a batch in one durable transaction: all of it is on disk, or none.
fn commit(db: &Database, batch: &[Queued]) -> Result<Vec<Done>, redb::Error> {
    let now_ms = crate::store::local::now_ms();
    let mut write = db.begin_write()?;
    if !batch.iter().any(|(change, _)| change.must_be_durable()) {
        write.set_durability(Durability::None)?;
    }
    let mut answers = Vec::with_capacity(batch.len());
    for (change, _) in batch {
        answers.push(apply(&write, change, now_ms)?);
    }
    write.commit()?;
    Ok(answers)
}

fn apply(write: &WriteTransaction, change: &Change, now_ms: u64) -> Result<Done, redb::Error> {
    match change {
        Change::RecordOnce { key, until_ms } => {
            let mut records = write.open_table(RECORDS)?;
            let live = records
                .get(key.as_str())?
                .is_some_and(|r| Record::until_ms(r.value()) > now_ms);
            if !live {
                records.insert(key.as_str(), Record::mark(*until_ms).as_slice())?;
            }
            Ok(Done::Claimed(!live))
        }
        Change::Used { key, until_ms } => {
            let mut records = write.open_table(RECORDS)?;
            records.insert(key.as_str(), Record::mark(*until_ms).as_slice())?;
            Ok(Done::Ok)
        }
        Change::Put {
            key,
            value,
            until_ms,
        } => {
            let mut records = write.open_table(RECORDS)?;
            records.insert(key.as_str(), Record::value(*until_ms, value).as_slice())?;
            Ok(Done::Ok)
        }
        Change::Remove { key } => {
            write.open_table(RECORDS)?.remove(key.as_str())?;
            Ok(Done::Ok)
        }
        Change::AddToSet {
            key,
            member,
            until_ms,
            gone,
        } => {
            let mut members = write.open_table(SET_MEMBERS)?;
            let kept = members
                .get((key.as_str(), member.as_str()))?
                .map_or(0, |until| until.value());
            members.insert((key.as_str(), member.as_str()), (*until_ms).max(kept))?;
            for name in gone {
                // Unless renewed meanwhile.
                let key = (key.as_str(), name.as_str());
                if members.get(key)?.is_some_and(|u| u.value() <= now_ms) {
                    members.remove(key)?;
                }
            }
            Ok(Done::Ok)
        }
        Change::RemoveFromSet { key, member } => {
            write
                .open_table(SET_MEMBERS)?
                .remove((key.as_str(), member.as_str()))?;
            Ok(Done::Ok)
        }
        Change::Revocations { add, remove } => {
            let mut revocations = write.open_table(REVOCATIONS)?;
            for (member, until) in add {
                let kept = revocations
                    .get(member.as_str())?
                    .map_or(i64::MIN, |until| until.value());
                revocations.insert(member.as_str(), (*until).max(kept))?;
            }
            for member in remove {
                revocations.remove(member.as_str())?;
            }
            Ok(Done::Ok)
        }
        Change::Flush(_) => {
            write.open_table(META)?.insert(tables::OPEN, 0)?;
            Ok(Done::Ok)
        }
        Change::Expire(expired) => {
            let now = (now_ms / 1000) as i64;
            let mut records = write.open_table(RECORDS)?;
            for key in &expired.records {
                let gone = records
                    .get(key.as_str())?
                    .is_some_and(|r| Record::until_ms(r.value()) <= now_ms);
                if gone {
                    records.remove(key.as_str())?;
                }
            }
            let mut members = write.open_table(SET_MEMBERS)?;
            for (set, member) in &expired.members {
                let key = (set.as_str(), member.as_str());
                if members
                    .get(key)?
                    .is_some_and(|until| until.value() <= now_ms)
                {
                    members.remove(key)?;
                }
            }
            let mut revocations = write.open_table(REVOCATIONS)?;
            for member in &expired.revocations {
                let gone = revocations
                    .get(member.as_str())?
                    .is_some_and(|until| until.value() <= now);
                if gone {
                    revocations.remove(member.as_str())?;
                }
            }
            Ok(Done::Ok)
        }
    }
}
