//! `FileStore`, the embedded default: one crash-safe database file (`STORE_PATH`) that keeps
//! everything across a restart, a deploy or a crash: consumed `state`s, logout-token `jti`s,
//! sealed tokens, the session indexes and the ended sessions.
//!
//! redb rather than SQLite: pure Rust (nothing to build or install), ACID with checksummed
//! copy-on-write commits, and an exclusive file lock so a second process cannot share the file
//! by mistake. A revocation, a logout `jti` and tokens are on disk before the call returns;
//! used login `state`s and session set changes may wait for the next such commit (see
//! [`writer`]; a crash cannot reopen a replay window, see [`consumed`]); the ended sessions are
//! also kept in memory, loaded at start, so checking a request reads no disk.
//! The session sets are kept in memory as well, and their changes written with the next
//! commit without being waited for (losing the last ones in a crash costs nothing: a session
//! ends anyway, and leaves its set when it expires). Refresh locks live in memory only: a lock
//! guards a refresh in this process, and a restart ends every holder.

mod consumed;
mod open;
mod sweep;
mod tables;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redb::{Database, ReadableDatabase, ReadableTable};
use rocket::async_trait;

use super::local::{now_ms, until_ms, LocalLocks, LocalSets};
use super::{Consumption, Revocation, RevocationList, SessionFacts, Store, StoreError};
use consumed::{Check, UsedValues};
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
    sets: Arc<LocalSets>,
    /// Used login `state`s not yet committed, and the crash rule that lets them wait.
    used: Arc<UsedValues>,
    locks: LocalLocks,
    sweeper: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl FileStore {
    /// Opens (or creates) the store file at `path`, with room for `ended_sessions` ended
    /// sessions in memory. A file that is locked, unreadable, corrupt, empty or from a newer
    /// version is refused, never replaced.
    pub fn open(path: &Path, ended_sessions: usize) -> Result<Self, FileStoreError> {
        let (db, crashed) = open::database(path)?;
        let db = Arc::new(db);
        let used = Arc::new(UsedValues::new(crashed));
        let writer =
            Writer::start(db.clone(), used.clone()).map_err(|e| FileStoreError::new(path, e))?;
        let store = Self {
            db,
            used,
            writer,
            path: path.to_path_buf(),
            revocations: RevocationList::new(ended_sessions),
            // Bounded by the users' sessions (MAX_SESSIONS_PER_USER each), which expire.
            sets: Arc::new(LocalSets::new(usize::MAX)),
            locks: LocalLocks::new(usize::MAX),
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
        if self.used.after_crash() {
            tracing::warn!(
                path = %self.path.display(),
                "the last run did not close the store file (a crash?): logins begun before this start are refused and must start again"
            );
        }
        Ok(())
    }

    /// Reads the live set members into memory.
    fn load_sets(&self) -> Result<(), FileStoreError> {
        let fail = |e: redb::Error| FileStoreError::new(&self.path, e);
        let now = now_ms();
        let read = self.db.begin_read().map_err(|e| fail(e.into()))?;
        let table = read.open_table(SET_MEMBERS).map_err(|e| fail(e.into()))?;
        for entry in table.iter().map_err(|e| fail(e.into()))? {
            let (key, until) = entry.map_err(|e| fail(e.into()))?;
            let (set, member) = key.value();
            if until.value() > now {
                self.sets
                    .add(set, member, until.value(), usize::MAX)
                    .map_err(|e| FileStoreError::new(&self.path, e))?;
            }
        }
        Ok(())
    }

    async fn change(&self, change: Change) -> Result<Done, StoreError> {
        self.writer.apply(change).await
    }

    /// What `read` makes of the live record under `key` (`None`: absent or expired).
    fn live_record<T>(
        &self,
        key: &str,
        read: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<T>, StoreError> {
        let now = now_ms();
        self.read(|transaction| {
            let records = transaction.open_table(RECORDS)?;
            let Some(record) = records.get(key)? else {
                return Ok(None);
            };
            let bytes = record.value();
            Ok((Record::until_ms(bytes) > now).then(|| read(bytes)))
        })
    }

    fn read<T>(
        &self,
        read: impl FnOnce(&redb::ReadTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, StoreError> {
        let transaction = self.db.begin_read().map_err(|e| unavailable(e.into()))?;
        read(&transaction).map_err(unavailable)
    }
}

/// One pass over the file's tables (see [`sweep`]): pages found off the writer thread, each
/// removed in a commit of its own.
async fn sweep_file(db: &Arc<Database>, queue: &Writer) -> Result<(), StoreError> {
    let mut cursor = sweep::Cursor::default();
    while !matches!(cursor, sweep::Cursor::Done) {
        let db = db.clone();
        let (expired, next) =
            tokio::task::spawn_blocking(move || sweep::next_page(&db, cursor, now_ms()))
                .await
                .map_err(|e| StoreError::Unavailable(format!("the store file's sweep: {e}")))?
                .map_err(unavailable)?;
        if !expired.is_empty() {
            queue.apply(Change::Expire(expired)).await?;
        }
        cursor = next;
    }
    Ok(())
}

fn unavailable(error: redb::Error) -> StoreError {
    StoreError::Unavailable(format!("the store file: {error}"))
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

    async fn consume(
        &self,
        key: &str,
        ttl: Duration,
        issued_ms: i64,
    ) -> Result<Consumption, StoreError> {
        let until_ms = until_ms(ttl);
        let in_file = || Ok(self.live_record(key, |_| ())?.is_some());
        Ok(match self.used.check(key, until_ms, issued_ms, in_file)? {
            Check::Used => Consumption::Replayed,
            Check::IssuedBeforeCrash => Consumption::IssuedBeforeRestart,
            Check::Recorded => {
                self.writer.send(Change::Used {
                    key: key.to_string(),
                    until_ms,
                });
                Consumption::First
            }
        })
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
        let value = self.live_record(key, |bytes| Record::text(bytes).map(str::to_string))?;
        Ok(value.flatten())
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
        let until = until_ms(ttl);
        // The copy in memory knows which members left: the file forgets just those, instead
        // of reading the whole set on every login.
        let (left, gone) = self.sets.add_and_prune(key, member, until, max_members)?;
        self.writer.send(Change::AddToSet {
            key: key.to_string(),
            member: member.to_string(),
            until_ms: until,
            gone,
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
        self.sets.remove(key, member)?;
        self.writer.send(Change::RemoveFromSet {
            key: key.to_string(),
            member: member.to_string(),
        });
        Ok(())
    }

    async fn set_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        self.sets.members(key)
    }

    async fn lock(&self, key: &str, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        self.locks.lock(key, owner, lease)
    }

    async fn renew_lock(
        &self,
        key: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        self.locks.renew(key, owner, lease)
    }

    async fn unlock(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        self.locks.unlock(key, owner)
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
        let (db, queue) = (self.db.clone(), self.writer.clone());
        let (sets, used) = (self.sets.clone(), self.used.clone());
        *sweeper = Some(runtime.spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                sets.sweep();
                used.sweep();
                if let Err(error) = sweep_file(&db, &queue).await {
                    tracing::warn!(%error, "expired records not removed from the store file");
                }
            }
        }));
    }
}

impl Drop for FileStore {
    /// Writes what is queued (used `state`s, session set changes) durably and marks the file
    /// closed: the process may end before the writer thread lets go of the file.
    fn drop(&mut self) {
        if let Ok(mut sweeper) = self.sweeper.lock() {
            if let Some(task) = sweeper.take() {
                task.abort();
            }
        }
        if !self.writer.flush_blocking() {
            tracing::warn!(
                "the store file was not closed cleanly: the next start refuses logins begun before it"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    /// The members of `set` in the file itself (not the copy in memory).
    fn in_file(store: &FileStore, set: &str) -> Vec<String> {
        let read = store.db.begin_read().unwrap();
        let table = read.open_table(SET_MEMBERS).unwrap();
        let mut members = Vec::new();
        for entry in table.iter().unwrap() {
            let (key, _) = entry.unwrap();
            let (key, member) = key.value();
            if key == set {
                members.push(member.to_string());
            }
        }
        members.sort();
        members
    }

    #[rocket::async_test]
    async fn members_that_have_left_leave_the_file_when_their_set_next_changes() {
        let dir = std::env::temp_dir().join(format!("oidc-bff-sets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("store.redb");
        let _ = std::fs::remove_file(&path);
        let store = FileStore::open(&path, 100).unwrap();
        // Long enough to outlast the first commit on a loaded machine (1 ms once did not).
        let brief = Duration::from_millis(300);
        store.add_to_set("u", "old", brief, 5).await.unwrap();
        store.add_to_set("u", "kept", MINUTE, 5).await.unwrap();
        store.add_to_set("v", "other", brief, 5).await.unwrap();
        // A waited change commits whatever is queued before it.
        store.put("k", "v".into(), MINUTE).await.unwrap();
        assert_eq!(in_file(&store, "u"), ["kept", "old"]);
        tokio::time::sleep(brief + Duration::from_millis(100)).await;
        store.add_to_set("u", "new", MINUTE, 5).await.unwrap();
        store.put("k", "v".into(), MINUTE).await.unwrap();
        assert_eq!(in_file(&store, "u"), ["kept", "new"]);
        // Another set's members are left to the sweep.
        assert_eq!(in_file(&store, "v"), ["other"]);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
