//! Where records are kept and how many: the embedded store (`STORE`, `STORE_PATH`, used when
//! `REDIS_URL` is unset), the bound of the list of ended sessions and the number of sessions a
//! user may have.

use std::path::PathBuf;

use super::choices::StoreKind;
use super::error::ConfigError;
use super::fields::Fields;

/// Where a single instance keeps its records (used when `REDIS_URL` is unset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbeddedStore {
    /// The database file at this path.
    File(PathBuf),
    /// Process memory.
    Memory,
}

/// The store settings, checked.
pub(super) struct Stores {
    pub embedded: EmbeddedStore,
    pub ended_sessions_capacity: usize,
    pub max_sessions_per_user: usize,
}

/// Fewer ended sessions than this would fold users' sessions at every few logouts.
const SMALLEST_CAPACITY: u64 = 16;

pub(super) fn read(fields: &Fields) -> Result<Stores, ConfigError> {
    let embedded = match fields.store {
        StoreKind::Memory => EmbeddedStore::Memory,
        StoreKind::File if fields.store_path.trim().is_empty() => {
            return Err(ConfigError::Invalid {
                name: "STORE_PATH (oidc.store_path)",
                detail: "it is empty".into(),
                hint: "the path of the store file, e.g. /var/lib/oidc-bff/store.redb",
            })
        }
        StoreKind::File => EmbeddedStore::File(fields.store_path.trim().into()),
    };
    if fields.ended_sessions_capacity < SMALLEST_CAPACITY {
        return Err(ConfigError::Invalid {
            name: "ENDED_SESSIONS_CAPACITY (oidc.ended_sessions_capacity)",
            detail: format!("{} is too small", fields.ended_sessions_capacity),
            hint: "how many ended sessions each instance keeps, a whole number of at least 16",
        });
    }
    if fields.max_sessions_per_user < 1 {
        return Err(ConfigError::Invalid {
            name: "MAX_SESSIONS_PER_USER (oidc.max_sessions_per_user)",
            detail: "0 would refuse every login".into(),
            hint: "how many live sessions a user may have, a whole number of at least 1",
        });
    }
    Ok(Stores {
        embedded,
        ended_sessions_capacity: usize::try_from(fields.ended_sessions_capacity)
            .unwrap_or(usize::MAX),
        max_sessions_per_user: usize::try_from(fields.max_sessions_per_user).unwrap_or(usize::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::fields;
    use rocket::figment::providers::Serialized;
    use rocket::figment::Figment;

    fn stores(pairs: &[(&str, &str)]) -> Result<Stores, ConfigError> {
        let figment = pairs.iter().fold(Figment::new(), |figment, (key, value)| {
            figment.merge(Serialized::default(&format!("oidc.{key}"), value))
        });
        read(&fields::read(&figment)?)
    }

    #[test]
    fn the_default_is_the_store_file_in_the_working_directory() {
        let defaults = stores(&[]).unwrap();
        assert_eq!(
            defaults.embedded,
            EmbeddedStore::File("oidc-bff.redb".into())
        );
        assert_eq!(defaults.ended_sessions_capacity, 1_000_000);
        assert_eq!(defaults.max_sessions_per_user, 50);
        let memory = stores(&[("store", "memory")]).unwrap();
        assert_eq!(memory.embedded, EmbeddedStore::Memory);
        let file = stores(&[("store", "FILE"), ("store_path", " /var/lib/s.redb ")]);
        assert_eq!(
            file.unwrap().embedded,
            EmbeddedStore::File("/var/lib/s.redb".into())
        );
    }

    #[test]
    fn each_malformed_store_setting_stops_start_up_naming_it() {
        for (pairs, name) in [
            (vec![("store", "disk")], "STORE (oidc.store)"),
            (vec![("store_path", "  ")], "STORE_PATH (oidc.store_path)"),
            (
                vec![("ended_sessions_capacity", "lots")],
                "ENDED_SESSIONS_CAPACITY",
            ),
            (
                vec![("ended_sessions_capacity", "15")],
                "ENDED_SESSIONS_CAPACITY",
            ),
            (
                vec![("ended_sessions_capacity", "-1")],
                "ENDED_SESSIONS_CAPACITY",
            ),
            (
                vec![("max_sessions_per_user", "0")],
                "MAX_SESSIONS_PER_USER",
            ),
            (
                vec![("max_sessions_per_user", "many")],
                "MAX_SESSIONS_PER_USER",
            ),
        ] {
            let error = stores(&pairs).err().expect("refused").to_string();
            assert!(error.starts_with(name), "{pairs:?}: {error}");
        }
    }
}
