//! Opening the store file, and every way that can fail. A file that cannot be trusted stops
//! start-up with one line naming it and what to do: it is never replaced by an empty store,
//! which would bring back every session it had ended.

use std::path::{Path, PathBuf};

use redb::{Database, DatabaseError, ReadableTable, StorageError};

use super::tables::{FORMAT, META, OPEN, RECORDS, REVOCATIONS, SET_MEMBERS};

/// Why the store file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("STORE_PATH (oidc.store_path) {path}: {problem}")]
pub struct FileStoreError {
    path: PathBuf,
    problem: String,
}

impl FileStoreError {
    pub(super) fn new(path: &Path, problem: impl std::fmt::Display) -> Self {
        Self {
            path: path.to_path_buf(),
            problem: problem.to_string(),
        }
    }

    pub(super) fn unknown_revocation(path: &Path) -> Self {
        Self::new(
            path,
            "holds ended sessions this version cannot read (written by a newer oidc-bff?): run that version, or move the file away knowingly",
        )
    }
}

/// Opens or creates the database, checks every page of an existing one, marks or checks its
/// format, and marks it open. Also says whether the last process to use it crashed (left it
/// marked open).
pub(super) fn database(path: &Path) -> Result<(Database, bool), FileStoreError> {
    let fail = |problem: String| FileStoreError::new(path, problem);
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.is_file() && meta.len() == 0 {
            return Err(fail(
                "the file is empty (truncated?): restore it from a backup, or delete it if it is new (every session it ended would work again)".into(),
            ));
        }
    }
    let db = Database::builder()
        // A file altered outside redb is reported as corrupt instead of being trusted.
        .set_check_integrity_on_open(true)
        .create(path)
        .map_err(|error| fail(describe(error)))?;
    let write = db.begin_write().map_err(|e| fail(e.to_string()))?;
    let (found, crashed) = {
        let mut meta = write.open_table(META).map_err(|e| fail(e.to_string()))?;
        let found = meta
            .get("format")
            .map_err(|e| fail(e.to_string()))?
            .map(|v| v.value());
        if found.is_none() {
            meta.insert("format", FORMAT)
                .map_err(|e| fail(e.to_string()))?;
        }
        let crashed = meta
            .insert(OPEN, 1)
            .map_err(|e| fail(e.to_string()))?
            .is_some_and(|was| was.value() == 1);
        (found, crashed)
    };
    if let Some(format) = found.filter(|format| *format > FORMAT) {
        return Err(fail(format!(
            "written by a newer oidc-bff (store format {format}, this version reads {FORMAT}): run that version or newer"
        )));
    }
    // Every table exists from the start, so readers never meet a missing one.
    write
        .open_table(RECORDS)
        .and(write.open_table(SET_MEMBERS).map(drop))
        .and(write.open_table(REVOCATIONS).map(drop))
        .map_err(|e| fail(e.to_string()))?;
    write.commit().map_err(|e| fail(e.to_string()))?;
    Ok((db, crashed))
}

/// What went wrong, and what to do about it.
fn describe(error: DatabaseError) -> String {
    match error {
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
            "locked by another process (another oidc-bff on the same file?): stop it, or give each instance its own STORE_PATH (several instances share Redis)".into()
        }
        DatabaseError::UpgradeRequired(version) => format!(
            "in an unsupported redb file format ({version}): run the oidc-bff version that wrote it"
        ),
        DatabaseError::Storage(StorageError::Corrupted(detail)) => format!(
            "corrupt ({detail}): restore it from a backup; deleting it would bring back every session it ended"
        ),
        DatabaseError::Storage(StorageError::Io(io)) => match io.kind() {
            std::io::ErrorKind::PermissionDenied => {
                format!("cannot be opened ({io}): give the app read and write access to it")
            }
            std::io::ErrorKind::InvalidData => format!(
                "is not a store file ({io}): point STORE_PATH elsewhere or restore the file"
            ),
            _ => format!("cannot be read ({io})"),
        },
        other => format!("cannot be opened ({other})"),
    }
}
