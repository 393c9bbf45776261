//! The file's tables and how a record is written in them.

use redb::TableDefinition;

/// The app's keyed records (consumed `state`s, logout `jti`s, sealed tokens): key → deadline
/// and value (see [`Record`]). Keys are the app's, which name secrets only by their digests.
pub(super) const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");
/// Set members: (set, member) → when the member leaves (Unix milliseconds).
pub(super) const SET_MEMBERS: TableDefinition<(&str, &str), u64> =
    TableDefinition::new("set_members");
/// Revocations: member (see `Revocation::member`) → kept until (Unix seconds).
pub(super) const REVOCATIONS: TableDefinition<&str, i64> = TableDefinition::new("revocations");
/// The file's own facts: `format`, and [`OPEN`].
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// 1 while a process has the file open, 0 once it closed it after writing everything: a
/// start that finds 1 follows a crash.
pub(super) const OPEN: &str = "open";

/// The layout this build writes; a file with a higher one came from a newer version.
pub(super) const FORMAT: u64 = 1;

/// A record: 8 bytes of deadline (Unix milliseconds, big-endian), one byte saying whether a
/// value follows, then the value.
pub(super) struct Record;

impl Record {
    /// A record without a value (`record_once`).
    pub(super) fn mark(until_ms: u64) -> Vec<u8> {
        let mut bytes = until_ms.to_be_bytes().to_vec();
        bytes.push(0);
        bytes
    }

    /// A record with a value (`put`).
    pub(super) fn value(until_ms: u64, value: &str) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(9 + value.len());
        bytes.extend_from_slice(&until_ms.to_be_bytes());
        bytes.push(1);
        bytes.extend_from_slice(value.as_bytes());
        bytes
    }

    /// Its deadline (0, long past, for bytes too short to be a record).
    pub(super) fn until_ms(bytes: &[u8]) -> u64 {
        bytes
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_be_bytes)
    }

    /// Its value, if it has one and it is text.
    pub(super) fn text(bytes: &[u8]) -> Option<&str> {
        match bytes.get(8) {
            Some(1) => std::str::from_utf8(&bytes[9..]).ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_their_deadline_and_value() {
        let mark = Record::mark(42);
        assert_eq!(Record::until_ms(&mark), 42);
        assert_eq!(Record::text(&mark), None);
        let value = Record::value(7, "sealed");
        assert_eq!(Record::until_ms(&value), 7);
        assert_eq!(Record::text(&value), Some("sealed"));
        assert_eq!(Record::until_ms(b"short"), 0);
    }
}
