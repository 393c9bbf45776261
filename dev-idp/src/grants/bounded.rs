//! The grants' maps: keyed by the SHA-256 of a code or token (the values themselves are not
//! kept), bounded, and emptied of what expired first when full.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::signing::Grant;

pub type Key = [u8; 32];

pub fn key(value: &str) -> Key {
    Sha256::digest(value.as_bytes()).into()
}

pub enum CodeState {
    Pending {
        grant: Arc<Grant>,
        redirect_uri: String,
        code_challenge: String,
        /// RFC 9449 §10: the DPoP key the code must be redeemed with, if bound.
        dpop_jkt: Option<String>,
        /// The access token the redemption will issue, chosen with the code.
        access_token: String,
        /// The ID token the redemption will answer with, signed with the code.
        id_token: Option<String>,
    },
    /// Spent by a redemption that started token family `family`.
    Redeemed { family: u64 },
}

pub struct CodeEntry {
    pub state: CodeState,
    pub expires: Instant,
}

pub struct TokenEntry {
    pub family: u64,
    pub grant: Arc<Grant>,
    /// The DPoP key thumbprint the token is bound to (RFC 9449 §6), if any.
    pub jkt: Option<String>,
    pub expires: Instant,
}

pub trait Expiring {
    fn expires(&self) -> Instant;
    /// Only remembered (to recognise a replay), not waiting to be used: dropped before
    /// anything that is.
    fn only_remembered(&self) -> bool {
        false
    }
}
impl Expiring for CodeEntry {
    fn expires(&self) -> Instant {
        self.expires
    }
    fn only_remembered(&self) -> bool {
        matches!(self.state, CodeState::Redeemed { .. })
    }
}
impl Expiring for TokenEntry {
    fn expires(&self) -> Instant {
        self.expires
    }
}

/// Inserts after making room: expired entries go first, then what is only remembered (a
/// redeemed code, kept ten minutes past a fresh code's lifetime: dropping the one closest to
/// expiry would otherwise drop fresh codes before their users redeem them), then the one
/// closest to expiry.
pub fn insert_bounded<V: Expiring>(
    map: &mut HashMap<Key, V>,
    capacity: usize,
    key: Key,
    value: V,
    now: Instant,
) {
    if map.len() >= capacity {
        map.retain(|_, v| v.expires() > now);
    }
    while map.len() >= capacity {
        let first = map
            .iter()
            .min_by_key(|(_, v)| (!v.only_remembered(), v.expires()))
            .map(|(k, _)| *k);
        let Some(oldest) = first else {
            break;
        };
        map.remove(&oldest);
    }
    map.insert(key, value);
}
