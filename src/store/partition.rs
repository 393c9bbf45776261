//! A bounded table of records with deadlines, the building block of the memory store. Keys
//! are 64-bit digests; a table full of live records refuses new ones (fail closed).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::time::{Duration, Instant};

/// Expired records are swept at most this often (on insert), not only when a table fills.
const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

/// A key as a 64-bit keyed hash (SipHash under a random per-process key): 8 bytes however long
/// the key, and no session ids or states held in the clear. Collisions cannot be aimed at
/// without the key; a chance one (about one in 10^14 per lookup with 200,000 records) only fails
/// closed: a login refused as already used, or a session taken for logged out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Digest(pub u64);

impl Hash for Digest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

/// Milliseconds since the store was created: 8 bytes where an `Instant` takes 16, so a
/// recorded key costs 16 bytes of table.
pub type Deadline = u64;

/// The digests are already keyed hashes: the tables use them as they are.
#[derive(Default, Clone, Copy)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not reached by `Digest`, which writes one u64; fold anything else in.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub type Table<V> = HashMap<Digest, V, BuildHasherDefault<PassThrough>>;

pub struct Partition {
    pub deadlines: Table<Deadline>,
    /// Values of `put` (tokens); `record_once` keys have a deadline only.
    pub values: Table<Box<str>>,
    capacity: usize,
    last_sweep: Deadline,
    /// When the last "full" warning was logged, so a flood does not flood the log too.
    last_full_warning: Option<Deadline>,
}

impl Partition {
    pub fn new(capacity: usize) -> Self {
        Self {
            deadlines: Table::default(),
            values: Table::default(),
            capacity,
            last_sweep: 0,
            last_full_warning: None,
        }
    }

    pub fn is_live(&self, digest: &Digest, now: Deadline) -> bool {
        self.deadlines.get(digest).is_some_and(|&d| d > now)
    }

    /// Drops expired records in place (the periodic sweep: cheap, no second table).
    pub fn sweep(&mut self, now: Deadline) {
        self.deadlines.retain(|_, d| *d > now);
        if !self.values.is_empty() {
            let deadlines = &self.deadlines;
            self.values.retain(|k, _| deadlines.contains_key(k));
        }
    }

    /// Whether one more record fits: expired records are swept first (and every
    /// `SWEEP_INTERVAL` anyway). A partition full of live records refuses rather than drop
    /// one: a dropped consumed `state` could be replayed, a dropped token set is another
    /// user's lost session. The refusal is logged at most once a minute.
    pub fn has_room(&mut self, now: Deadline) -> bool {
        let sweep_due = now.saturating_sub(self.last_sweep) >= SWEEP_INTERVAL.as_millis() as u64;
        if sweep_due || self.deadlines.len() >= self.capacity {
            self.sweep(now);
            self.last_sweep = now;
        }
        if self.deadlines.len() < self.capacity {
            return true;
        }
        if self
            .last_full_warning
            .is_none_or(|at| now.saturating_sub(at) >= 60_000)
        {
            tracing::warn!(
                capacity = self.capacity,
                "memory store full of live records: new ones are refused (use the file store or Redis)"
            );
            self.last_full_warning = Some(now);
        }
        false
    }
}

/// Whether a map whose values end with a deadline has room for one more entry, after dropping
/// its expired ones (as [`Partition::has_room`], it never drops a live one).
pub fn has_room_in_map<K: std::hash::Hash + Eq, V>(
    map: &mut HashMap<K, V>,
    capacity: usize,
    deadline: impl Fn(&V) -> Instant,
) -> bool {
    if map.len() >= capacity {
        let now = Instant::now();
        map.retain(|_, v| deadline(v) > now);
    }
    map.len() < capacity
}
