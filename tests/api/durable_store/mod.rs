//! A logout is final: the default store file across restarts and a crash of the real binary,
//! files that cannot be trusted, and floods of logins and logouts against a small bound of
//! ended sessions (the file, Redis and the memory store alike).

mod file;
mod flood;
mod restart;

use std::path::PathBuf;

/// A path in the temporary directory for a store file, with nothing there yet.
pub fn store_path(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let path = std::env::temp_dir().join(format!("oidc-bff-{name}-{nanos}.redb"));
    let _ = std::fs::remove_file(&path);
    path
}
