//! `FileStore`, the embedded default: one crash-safe database file (`STORE_PATH`) that keeps
//! everything across a restart, a deploy or a crash: consumed `state`s, logout-token `jti`s,
//! sealed tokens, the session indexes and the ended sessions.
//!
//! redb rather than SQLite: pure Rust (nothing to build or install), ACID with checksummed
//! copy-on-write commits, and an exclusive file lock so a second process cannot share the file
//! by mistake. A revocation, a consumed `state` or `jti` and tokens are on disk before the call
//! returns; session set changes may wait for the next such commit (see [`writer`]); the ended
//! sessions are also kept in memory, loaded at start, so checking a request reads no disk.
//! The session sets are kept in memory as well, and their changes written with the next
//! commit without being waited for (losing the last ones in a crash costs nothing: a session
//! ends anyway, and leaves its set when it expires). Refresh locks live in memory only: a lock
//! guards a refresh in this process, and a restart ends every holder.

mod open;
mod tables;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, ReadableTable};
use rocket::async_trait;

use super::{Revocation, RevocationList, SessionFacts, Store, StoreError};
pub use open::FileStoreError;
use tables::{Record, RECORDS, SET_MEMBERS};
use writer::{Change, Done, Writer};

/// Expired records are removed from the file this often.
const SWEEP_EVERY: Duration = Duration::from_secs(300);

/// The embedded durable store (see the module).
pub struct FileStore {
    db: Arc<Database>,
    writer: Writer,
    path: PathBuf,
    revocations: RevocationList,
    /// The session sets, also kept in memory (loaded at start): a login or logout then waits
    /// for no commit of theirs, which are queued and written with the next one.
    sets: Arc<Mutex<Sets>>,
    locks: Mutex<HashMap<String, (String, Instant)>>,
    sweeper: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Set → member → when it leaves (Unix milliseconds).
type Sets = HashMap<String, HashMap<String, u64>>;

impl FileStore {
    /// Opens (or creates) the store file at `path`, with room for `ended_sessions` ended
    /// sessions in memory. A file that is locked, unreadable, corrupt, empty or from a newer
    /// version is refused, never replaced.
    pub fn open(path: &Path, ended_sessions: usize) -> Result<Self, FileStoreError> {
        let db = Arc::new(open::database(path)?);
        let writer = Writer::start(db.clone()).map_err(|e| FileStoreError::new(path, e))?;
        let store = Self {
            db,
            writer,
            path: path.to_path_buf(),
            revocations: RevocationList::new(ended_sessions),
            sets: Arc::new(Mutex::new(HashMap::new())),
            locks: Mutex::new(HashMap::new()),
            sweeper: Mutex::new(None),
        };
        store.load_revocations()?;
        store.load_sets()?;
        Ok(store)
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many ended sessions are in memory.
    pub fn ended_sessions(&self) -> usize {
        self.revocations.len()
    }

    /// Reads every live revocation into memory; when they do not fit, the list folds them
    /// and the file is brought to the same bounded form.
    fn load_revocations(&self) -> Result<(), FileStoreError> {
        let fail = |e: redb::Error| FileStoreError::new(&self.path, e);
        let now = crate::clock::now();
        let mut add = Vec::new();
        let mut remove = Vec::new();
        {
            let read = self.db.begin_read().map_err(|e| fail(e.into()))?;
            let table = read
                .open_table(tables::REVOCATIONS)
                .map_err(|e| fail(e.into()))?;
            for entry in table.iter().map_err(|e| fail(e.into()))? {
                let (member, until) = entry.map_err(|e| fail(e.into()))?;
                let until = until.value();
                if until <= now {
                    continue;
                }
                let Some(revocation) = Revocation::from_member(member.value(), until) else {
                    // Never read as "nothing ended": an unknown member is a newer format.
                    return Err(FileStoreError::unknown_revocation(&self.path));
                };
                let changes = self.revocations.insert(&revocation);
                add.extend(changes.added.iter().map(|r| (r.member(), r.until)));
                remove.extend(changes.removed);
            }
        }
        if !add.is_empty() || !remove.is_empty() {
            writer::apply_now(&self.db, &Change::Revocations { add, remove }).map_err(fail)?;
        }
        tracing::info!(
            path = %self.path.display(),
            ended_sessions = self.revocations.len(),
            "store: the embedded file (kept across restarts)"
        );
        Ok(())
    }

    /// Reads the live set members into memory.
    fn load_sets(&self) -> Result<(), FileStoreError> {
        let fail = |e: redb::Error| FileStoreError::new(&self.path, e);
        let now = tables::now_ms();
        let read = self.db.begin_read().map_err(|e| fail(e.into()))?;
        let table = read.open_table(SET_MEMBERS).map_err(|e| fail(e.into()))?;
        let mut sets = self
            .sets
            .lock()
            .map_err(|_| fail(redb::Error::TransactionPoisoned))?;
        for entry in table.iter().map_err(|e| fail(e.into()))? {
            let (key, until) = entry.map_err(|e| fail(e.into()))?;
            let (set, member) = key.value();
            if until.value() > now {
                sets.entry(set.to_string())
                    .or_default()
                    .insert(member.to_string(), until.value());
            }
        }
        Ok(())
    }

    async fn change(&self, change: Change) -> Result<Done, StoreError> {
        self.writer.apply(change).await
    }

    fn read<T>(
        &self,
        read: impl FnOnce(&redb::ReadTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, StoreError> {
        let transaction = self.db.begin_read().map_err(|e| unavailable(e.into()))?;
        read(&transaction).map_err(unavailable)
    }
}

fn unavailable(error: redb::Error) -> StoreError {
    StoreError::Unavailable(format!("the store file: {error}"))
}

/// Unix milliseconds `ttl` from now.
fn until_ms(ttl: Duration) -> u64 {
    tables::now_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Unavailable("store lock poisoned".into())
}

#[async_trait]
impl Store for FileStore {
    async fn record_once(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let change = Change::RecordOnce {
            key: key.to_string(),
            until_ms: until_ms(ttl),
        };
        Ok(matches!(self.change(change).await?, Done::Claimed(true)))
    }

    async fn put(&self, key: &str, value: String, ttl: Duration) -> Result<(), StoreError> {
        let change = Change::Put {
            key: key.to_string(),
            value,
            until_ms: until_ms(ttl),
        };
        self.change(change).await.map(|_| ())
    }

    async fn get(&self, key: &str) -> Result<Option<String>, StoreError> {
        let now = tables::now_ms();
        self.read(|read| {
            let Ok(records) = read.open_table(RECORDS) else {
                return Ok(None);
            };
            let Some(record) = records.get(key)? else {
                return Ok(None);
            };
            let bytes = record.value();
            let live = Record::until_ms(bytes) > now;
            Ok(live
                .then(|| Record::text(bytes).map(str::to_string))
                .flatten())
        })
    }

    async fn remove(&self, key: &str) -> Result<(), StoreError> {
        let change = Change::Remove {
            key: key.to_string(),
        };
        self.change(change).await.map(|_| ())
    }

    async fn add_to_set(
        &self,
        key: &str,
        member: &str,
        ttl: Duration,
        max_members: usize,
    ) -> Result<Vec<String>, StoreError> {
        let now = tables::now_ms();
        let until = until_ms(ttl);
        let left = {
            let mut sets = self.sets.lock().map_err(poisoned)?;
            let members = sets.entry(key.to_string()).or_default();
            members.retain(|_, leaves| *leaves > now);
            let kept = members.entry(member.to_string()).or_insert(until);
            *kept = (*kept).max(until);
            let mut left = Vec::new();
            while members.len() > max_members.max(1) {
                let Some(first) = members
                    .iter()
                    .min_by_key(|(_, leaves)| **leaves)
                    .map(|(m, _)| m.clone())
                else {
                    break;
                };
                members.remove(&first);
                left.push(first);
            }
            left
        };
        self.writer.send(Change::AddToSet {
            key: key.to_string(),
            member: member.to_string(),
            until_ms: until,
        });
        for gone in &left {
            self.writer.send(Change::RemoveFromSet {
                key: key.to_string(),
                member: gone.clone(),
            });
        }
        Ok(left)
    }

    async fn remove_from_set(&self, key: &str, member: &str) -> Result<(), StoreError> {
        {
            let mut sets = self.sets.lock().map_err(poisoned)?;
            if let Some(members) = sets.get_mut(key) {
                members.remove(member);
                if members.is_empty() {
                    sets.remove(key);
                }
            }
        }
        self.writer.send(Change::RemoveFromSet {
            key: key.to_string(),
            member: member.to_string(),
        });
        Ok(())
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let now = tables::now_ms();
        let sets = self.sets.lock().map_err(poisoned)?;
        Ok(sets.get(key).map_or_else(Vec::new, |members| {
            members
                .iter()
                .filter(|(_, leaves)| **leaves > now)
                .map(|(m, _)| m.clone())
                .collect()
        }))
    }

    async fn lock(&self, key: &str, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        let mut locks = self.locks.lock().map_err(poisoned)?;
        let now = Instant::now();
        locks.retain(|_, (_, until)| *until > now);
        if locks.contains_key(key) {
            return Ok(false);
        }
        locks.insert(key.to_string(), (owner.to_string(), now + lease));
        Ok(true)
    }

    async fn renew_lock(
        &self,
        key: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let mut locks = self.locks.lock().map_err(poisoned)?;
        let now = Instant::now();
        match locks.get_mut(key) {
            Some((holder, until)) if holder == owner && *until > now => {
                *until = now + lease;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let mut locks = self.locks.lock().map_err(poisoned)?;
        if locks.get(key).is_some_and(|(holder, _)| holder == owner) {
            locks.remove(key);
        }
        Ok(())
    }

    async fn revoke(&self, revocation: Revocation) -> Result<(), StoreError> {
        // In memory first: this instance refuses the session at once, even if the disk fails.
        let changes = self.revocations.insert(&revocation);
        let mut add = vec![(revocation.member(), revocation.until)];
        add.extend(changes.added.iter().map(|r| (r.member(), r.until)));
        let change = Change::Revocations {
            add,
            remove: changes.removed,
        };
        self.change(change).await.map(|_| ())
    }

    fn is_revoked(&self, session: &SessionFacts<'_>) -> Result<bool, StoreError> {
        Ok(self.revocations.is_revoked(session))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|_| Ok(()))
    }

    fn start(&self) {
        let Ok(mut sweeper) = self.sweeper.lock() else {
            return;
        };
        if sweeper.is_some() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let queue = self.writer.clone();
        let sets = self.sets.clone();
        *sweeper = Some(runtime.spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let now = tables::now_ms();
                if let Ok(mut sets) = sets.lock() {
                    sets.retain(|_, members| {
                        members.retain(|_, leaves| *leaves > now);
                        !members.is_empty()
                    });
                }
                if let Err(error) = queue.apply(Change::Sweep).await {
                    tracing::warn!(%error, "expired records not removed from the store file");
                }
            }
        }));
    }
}

impl Drop for FileStore {
    /// Writes what was committed without an `fsync` (session set changes): the process may
    /// end before the writer thread lets go of the file.
    fn drop(&mut self) {
        if let Ok(mut sweeper) = self.sweeper.lock() {
            if let Some(task) = sweeper.take() {
                task.abort();
            }
        }
        if !self.writer.flush_blocking() {
            tracing::warn!("the store file's last changes to session sets may not be written");
        }
    }
}
