//! Session sets and refresh locks held in this process's memory: the memory store's, and the
//! file store's (which also writes the sets to its file). Both are bounded; a full table
//! refuses a new entry rather than drop a live one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::partition::has_room_in_map;
use super::StoreError;

/// A table full of live entries, or a poisoned lock: the caller answers 503.
fn full() -> StoreError {
    StoreError::Unavailable("the store's table in memory is full".into())
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Unavailable("store lock poisoned".into())
}

/// Sets of members, each leaving at its own moment (Unix milliseconds).
pub struct LocalSets {
    sets: Mutex<HashMap<String, HashMap<String, u64>>>,
    capacity: usize,
}

impl LocalSets {
    /// Room for `capacity` sets.
    pub fn new(capacity: usize) -> Self {
        Self {
            sets: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// Adds `member` until `until_ms` (a later moment wins), then keeps at most `max` live
    /// members: those leaving first go, and are returned.
    pub fn add(
        &self,
        key: &str,
        member: &str,
        until_ms: u64,
        max: usize,
    ) -> Result<Vec<String>, StoreError> {
        self.add_and_prune(key, member, until_ms, max)
            .map(|(pushed_out, _)| pushed_out)
    }

    /// As [`LocalSets::add`], also returning the members that had already left and were
    /// forgotten on the way, so a copy of the set elsewhere can forget exactly those.
    pub fn add_and_prune(
        &self,
        key: &str,
        member: &str,
        until_ms: u64,
        max: usize,
    ) -> Result<(Vec<String>, Vec<String>), StoreError> {
        let now = now_ms();
        let mut sets = self.sets.lock().map_err(poisoned)?;
        if !sets.contains_key(key)
            && !has_room_in_map(&mut sets, self.capacity, |members| {
                latest(members).map_or(Instant::now(), |ms| instant_at(ms, now))
            })
        {
            return Err(full());
        }
        let members = sets.entry(key.to_string()).or_default();
        let mut gone = Vec::new();
        members.retain(|name, leaves| {
            let live = *leaves > now;
            if !live && name != member {
                gone.push(name.clone());
            }
            live
        });
        let kept = members.entry(member.to_string()).or_insert(until_ms);
        *kept = (*kept).max(until_ms);
        let mut left = Vec::new();
        while members.len() > max.max(1) {
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
        Ok((left, gone))
    }

    /// Takes `member` out of the set `key`.
    pub fn remove(&self, key: &str, member: &str) -> Result<(), StoreError> {
        let mut sets = self.sets.lock().map_err(poisoned)?;
        if let Some(members) = sets.get_mut(key) {
            members.remove(member);
            if members.is_empty() {
                sets.remove(key);
            }
        }
        Ok(())
    }

    /// The live members of the set `key`.
    pub fn members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let now = now_ms();
        let sets = self.sets.lock().map_err(poisoned)?;
        Ok(sets.get(key).map_or_else(Vec::new, |members| {
            members
                .iter()
                .filter(|(_, leaves)| **leaves > now)
                .map(|(m, _)| m.clone())
                .collect()
        }))
    }

    /// Forgets every member that has left, and the sets left empty.
    pub fn sweep(&self) {
        let now = now_ms();
        if let Ok(mut sets) = self.sets.lock() {
            sets.retain(|_, members| {
                members.retain(|_, leaves| *leaves > now);
                !members.is_empty()
            });
        }
    }
}

fn latest(members: &HashMap<String, u64>) -> Option<u64> {
    members.values().max().copied()
}

/// The `Instant` of a moment in Unix milliseconds, seen from `now_ms`.
fn instant_at(ms: u64, now_ms: u64) -> Instant {
    match ms.checked_sub(now_ms) {
        Some(ahead) => Instant::now() + Duration::from_millis(ahead),
        None => Instant::now(),
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> u64 {
    u64::try_from(crate::clock::now_ms()).unwrap_or(0)
}

/// Unix milliseconds `ttl` from now.
pub fn until_ms(ttl: Duration) -> u64 {
    now_ms().saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
}

/// Leased locks, each held by one owner until released or its lease lapses.
pub struct LocalLocks {
    locks: Mutex<HashMap<String, (String, Instant)>>,
    capacity: usize,
}

impl LocalLocks {
    /// Room for `capacity` locks held at once.
    pub fn new(capacity: usize) -> Self {
        Self {
            locks: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// Takes `key` for `owner` unless someone holds it.
    pub fn lock(&self, key: &str, owner: &str, lease: Duration) -> Result<bool, StoreError> {
        let mut locks = self.locks.lock().map_err(poisoned)?;
        let now = Instant::now();
        match locks.get(key) {
            Some((_, until)) if *until > now => Ok(false),
            _ => {
                if !locks.contains_key(key)
                    && !has_room_in_map(&mut locks, self.capacity, |(_, d)| *d)
                {
                    return Err(full());
                }
                locks.insert(key.to_string(), (owner.to_string(), now + lease));
                Ok(true)
            }
        }
    }

    /// Extends `owner`'s lease; `false` when it no longer holds the lock.
    pub fn renew(&self, key: &str, owner: &str, lease: Duration) -> Result<bool, StoreError> {
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

    /// Releases the lock if `owner` still holds it.
    pub fn unlock(&self, key: &str, owner: &str) -> Result<(), StoreError> {
        let mut locks = self.locks.lock().map_err(poisoned)?;
        if locks.get(key).is_some_and(|(holder, _)| holder == owner) {
            locks.remove(key);
        }
        Ok(())
    }
}
