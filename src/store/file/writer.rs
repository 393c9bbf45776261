//! Every change to the file goes through one thread that applies the changes waiting at that
//! moment in one write transaction and commits it (group commit): a burst of logins or
//! logouts shares one `fsync` instead of queueing for one each.
//!
//! What must survive a crash (a revocation, a logout `jti`, tokens) is committed durably: its
//! caller hears back once it is on disk. Used `state`s (see [`super::consumed`]), changes to
//! the session sets (which only speed up a back-channel logout and count a user's sessions)
//! and sweeps are committed without an `fsync` when nothing durable shares their batch; the
//! next durable commit, or closing the file, writes them too.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use redb::{Database, Durability, ReadableTable, Table, WriteTransaction};
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
    /// Adds a set member until `until_ms` (and forgets the set's members that have left).
    AddToSet {
        key: String,
        member: String,
        until_ms: u64,
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

/// The handle callers send changes through.
#[derive(Clone)]
pub(super) struct Writer {
    queue: mpsc::Sender<(Change, Reply)>,
}

impl Writer {
    /// Starts the writer thread for `db`, which tells `used` what it has committed; it ends
    /// when the last `Writer` is dropped.
    pub(super) fn start(db: Arc<Database>, used: Arc<UsedValues>) -> std::io::Result<Self> {
        let (queue, changes) = mpsc::channel();
        std::thread::Builder::new()
            .name("oidc-bff-store".into())
            .spawn(move || write_loop(&db, &used, &changes))?;
        Ok(Self { queue })
    }

    /// Writes everything queued durably and waits (a little) until it is done; blocks the
    /// thread, so only for closing the store.
    pub(super) fn flush_blocking(&self) -> bool {
        let (done, wait) = mpsc::channel();
        let (reply, _) = oneshot::channel();
        if self.queue.send((Change::Flush(done), reply)).is_err() {
            return false;
        }
        wait.recv_timeout(Duration::from_secs(5)).is_ok()
    }

    /// Queues `change` for the next commit without waiting for it (changes whose loss in a
    /// crash costs nothing or is covered otherwise: session sets, used `state`s).
    pub(super) fn send(&self, change: Change) {
        let (reply, _) = oneshot::channel();
        if self.queue.send((change, reply)).is_err() {
            tracing::warn!("the store file's writer has stopped: a change is not written");
        }
    }

    /// Applies `change` and waits until it is on disk.
    pub(super) async fn apply(&self, change: Change) -> Result<Done, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((change, reply)).map_err(|_| stopped())?;
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

/// Changes nobody waits for (session sets) ride along with the next commit someone waits for,
/// or are committed on their own once they have waited this long.
const UNWAITED_FOR_AT_MOST: Duration = Duration::from_millis(500);

fn write_loop(db: &Database, used: &UsedValues, changes: &mpsc::Receiver<(Change, Reply)>) {
    let mut unwaited: Vec<(Change, Reply)> = Vec::new();
    loop {
        let next = match unwaited.is_empty() {
            true => changes
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            false => changes.recv_timeout(UNWAITED_FOR_AT_MOST),
        };
        let first = match next {
            Ok(change) => change,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                write(db, used, std::mem::take(&mut unwaited));
                continue;
            }
            // The store is gone: what is left goes to disk, and the thread ends.
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                write(db, used, std::mem::take(&mut unwaited));
                return;
            }
        };
        let mut batch = std::mem::take(&mut unwaited);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match changes.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let flushing = batch
            .iter()
            .any(|(change, _)| matches!(change, Change::Flush(_)));
        if !flushing && batch.iter().all(|(_, reply)| reply.is_closed()) && batch.len() < MAX_BATCH
        {
            // Nobody waits: keep them for the next commit.
            unwaited = batch;
            continue;
        }
        write(db, used, batch);
    }
}

/// Commits `batch` and tells each waiting caller how it went.
fn write(db: &Database, used: &UsedValues, batch: Vec<(Change, Reply)>) {
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
                let _ = reply.send(Ok(answer));
            }
        }
        Err(error) => {
            tracing::error!(%error, "the store file could not be written");
            let error = StoreError::Unavailable(format!("the store file: {error}"));
            for (_, reply) in batch {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}

/// Applies a batch in one durable transaction: all of it is on disk, or none.
fn commit(db: &Database, batch: &[(Change, Reply)]) -> Result<Vec<Done>, redb::Error> {
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
        } => {
            let mut members = write.open_table(SET_MEMBERS)?;
            let kept = members
                .get((key.as_str(), member.as_str()))?
                .map_or(0, |until| until.value());
            members.insert((key.as_str(), member.as_str()), (*until_ms).max(kept))?;
            forget_left(&mut members, key, now_ms)?;
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

/// Drops the set's members that have left.
fn forget_left(
    members: &mut Table<(&str, &str), u64>,
    key: &str,
    now_ms: u64,
) -> Result<(), redb::Error> {
    let mut gone: Vec<String> = Vec::new();
    for entry in members.range(tables::set_range(key))? {
        let (member, until) = entry?;
        if until.value() <= now_ms {
            gone.push(member.value().1.to_string());
        }
    }
    for name in &gone {
        members.remove((key, name.as_str()))?;
    }
    Ok(())
}
