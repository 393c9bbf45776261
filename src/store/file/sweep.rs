//! Removing expired entries without holding up writes. One pass over a table of a million
//! revocations takes about half a second as one write transaction, and every logout would wait
//! behind it; instead, read transactions (which never block the writer) find the expired keys
//! a page at a time, and the writer removes each page in a small commit of its own, checking
//! each key again (a revocation or set member may have been renewed meanwhile).

use std::ops::Bound;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, Value};

use super::tables::{Record, RECORDS, REVOCATIONS, SET_MEMBERS};

/// Entries read per read transaction.
const PAGE: usize = 5_000;

/// Expired keys found in one page of a table.
#[derive(Debug, Default)]
pub(super) struct Expired {
    pub(super) records: Vec<String>,
    pub(super) members: Vec<(String, String)>,
    pub(super) revocations: Vec<String>,
}

impl Expired {
    pub(super) fn is_empty(&self) -> bool {
        self.records.is_empty() && self.members.is_empty() && self.revocations.is_empty()
    }
}

/// Where a pass over the tables has got to: the table, and the last key read in it.
#[derive(Debug)]
pub(super) enum Cursor {
    Records(Option<String>),
    Members(Option<(String, String)>),
    Revocations(Option<String>),
    Done,
}

impl Default for Cursor {
    fn default() -> Self {
        Self::Records(None)
    }
}

/// Reads the next page from `cursor` (at `now_ms`): the expired keys in it, and where the
/// next page starts.
pub(super) fn next_page(
    db: &Database,
    cursor: Cursor,
    now_ms: u64,
) -> Result<(Expired, Cursor), redb::Error> {
    let now_secs = (now_ms / 1000) as i64;
    let mut expired = Expired::default();
    let next = match cursor {
        Cursor::Records(after) => {
            let (keys, last) = str_keys(db, RECORDS, after.as_deref(), |record| {
                Record::until_ms(record) <= now_ms
            })?;
            expired.records = keys;
            last.map_or(Cursor::Members(None), |key| Cursor::Records(Some(key)))
        }
        Cursor::Members(after) => {
            let read = db.begin_read()?;
            let table = read.open_table(SET_MEMBERS)?;
            let range = match &after {
                Some((set, member)) => table.range((
                    Bound::Excluded((set.as_str(), member.as_str())),
                    Bound::Unbounded,
                ))?,
                None => table.range(..)?,
            };
            let mut last = None;
            for entry in range.take(PAGE) {
                let (key, until) = entry?;
                if until.value() <= now_ms {
                    let (set, member) = key.value();
                    expired.members.push((set.to_string(), member.to_string()));
                }
                last = Some(key);
            }
            match last.as_ref().map(|key| key.value()) {
                Some((set, member)) => Cursor::Members(Some((set.into(), member.into()))),
                None => Cursor::Revocations(None),
            }
        }
        Cursor::Revocations(after) => {
            let (keys, last) = str_keys(db, REVOCATIONS, after.as_deref(), |until| {
                *until <= now_secs
            })?;
            expired.revocations = keys;
            last.map_or(Cursor::Done, |key| Cursor::Revocations(Some(key)))
        }
        Cursor::Done => Cursor::Done,
    };
    Ok((expired, next))
}

/// One page of a table keyed by text, after `after`: the keys whose value is `expired`, and
/// the last key read (`None` at the end of the table).
fn str_keys<V: Value + 'static>(
    db: &Database,
    definition: TableDefinition<&'static str, V>,
    after: Option<&str>,
    expired: impl Fn(&V::SelfType<'_>) -> bool,
) -> Result<(Vec<String>, Option<String>), redb::Error> {
    let read = db.begin_read()?;
    let table = read.open_table(definition)?;
    let range = match after {
        Some(after) => table.range((Bound::Excluded(after), Bound::Unbounded))?,
        None => table.range(..)?,
    };
    let mut keys = Vec::new();
    let mut last = None;
    for entry in range.take(PAGE) {
        let (key, value) = entry?;
        if expired(&value.value()) {
            keys.push(key.value().to_string());
        }
        last = Some(key);
    }
    Ok((keys, last.map(|key| key.value().to_string())))
}

#[cfg(test)]
mod tests {
    use super::super::writer::{apply_now, Change};
    use super::*;
    use redb::ReadableTableMetadata;

    /// A new store file in the temporary directory, and its path.
    fn fresh_file(name: &str) -> (Database, std::path::PathBuf) {
        let file = format!("oidc-bff-{name}-{}.redb", std::process::id());
        let path = std::env::temp_dir().join(file);
        let _ = std::fs::remove_file(&path);
        let (db, _) = super::super::open::database(&path).unwrap();
        (db, path)
    }

    #[test]
    fn a_pass_removes_every_expired_entry_across_pages_and_keeps_the_live_ones() {
        let (db, path) = fresh_file("sweep");
        let now_ms = 10_000_000;
        let count = PAGE * 2 + 7;
        let write = db.begin_write().unwrap();
        {
            let mut records = write.open_table(RECORDS).unwrap();
            let mut members = write.open_table(SET_MEMBERS).unwrap();
            let mut revocations = write.open_table(REVOCATIONS).unwrap();
            for i in 0..count {
                let until_ms = if i % 3 == 0 {
                    now_ms - 1
                } else {
                    now_ms + 60_000
                };
                let key = format!("k{i:06}");
                records
                    .insert(key.as_str(), Record::mark(until_ms).as_slice())
                    .unwrap();
                members.insert(("set", key.as_str()), until_ms).unwrap();
                revocations
                    .insert(key.as_str(), (until_ms / 1000) as i64)
                    .unwrap();
            }
        }
        write.commit().unwrap();

        let mut cursor = Cursor::default();
        let mut pages = 0;
        while !matches!(cursor, Cursor::Done) {
            let (expired, next) = next_page(&db, cursor, now_ms).unwrap();
            if !expired.is_empty() {
                apply_now(&db, &Change::Expire(expired)).unwrap();
            }
            cursor = next;
            pages += 1;
        }
        assert!(pages > 6, "{pages} pages");

        let live = count - count.div_ceil(3);
        let read = db.begin_read().unwrap();
        assert_eq!(
            read.open_table(RECORDS).unwrap().len().unwrap() as usize,
            live
        );
        assert_eq!(
            read.open_table(SET_MEMBERS).unwrap().len().unwrap() as usize,
            live
        );
        assert_eq!(
            read.open_table(REVOCATIONS).unwrap().len().unwrap() as usize,
            live
        );
        drop(read);
        drop(db);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn an_entry_renewed_after_the_scan_is_kept() {
        let (db, path) = fresh_file("renew");
        let now_ms = 10_000_000;
        let revoke = |until: i64| Change::Revocations {
            add: vec![("s renewed".into(), until)],
            remove: vec![],
        };
        apply_now(&db, &revoke(now_ms as i64 / 1000 - 1)).unwrap();
        let (expired, _) = next_page(&db, Cursor::Revocations(None), now_ms).unwrap();
        assert_eq!(expired.revocations, ["s renewed"]);
        apply_now(&db, &revoke(i64::MAX)).unwrap();
        apply_now(&db, &Change::Expire(expired)).unwrap();
        let read = db.begin_read().unwrap();
        let table = read.open_table(REVOCATIONS).unwrap();
        assert!(
            table.get("s renewed").unwrap().is_some(),
            "a renewed revocation was swept"
        );
        drop((table, read, db));
        let _ = std::fs::remove_file(&path);
    }
}
