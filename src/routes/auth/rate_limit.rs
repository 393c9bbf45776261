//! `LOGIN_RATE_LIMIT`: logins a client address may start per minute (a burst of as many, then
//! one every `60 / limit` seconds), so a stranger cannot make the BFF call the IdP (a pushed
//! request, a signed client assertion) as fast as it likes. Past it, `/login` answers 429 with
//! `Retry-After`. The table of addresses is bounded: when it is full of addresses still
//! counting, a new address is refused (429) rather than another one forgotten.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Addresses tracked at most.
const MAX_ADDRESSES: usize = 100_000;

/// A token bucket per client address.
pub(crate) struct LoginRateLimit {
    /// Logins per minute, and the burst; 0: no limit.
    per_minute: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl LoginRateLimit {
    pub(crate) fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one login for `client` now: `Ok`, or `Err` with the seconds until the next one.
    pub(crate) fn take(&self, client: IpAddr, now: Instant) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let burst = f64::from(self.per_minute);
        let per_second = burst / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let refilled = |bucket: &Bucket| {
            let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
            (bucket.tokens + elapsed * per_second).min(burst)
        };
        if !buckets.contains_key(&client) && buckets.len() >= MAX_ADDRESSES {
            // Forget the addresses whose bucket is full again; they lose nothing.
            buckets.retain(|_, bucket| refilled(bucket) < burst);
            if buckets.len() >= MAX_ADDRESSES {
                return Err(60);
            }
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let tokens = refilled(bucket);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket { tokens, at: now };
            Err(((1.0 - tokens) / per_second).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_then_one_login_per_share_of_the_minute() {
        let limit = LoginRateLimit::new(3);
        let client: IpAddr = "192.0.2.1".parse().unwrap();
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(limit.take(client, start), Ok(()));
        }
        assert_eq!(limit.take(client, start), Err(20), "one every 20 s");
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(
            limit.take(other, start),
            Ok(()),
            "another address counts apart"
        );
        assert_eq!(limit.take(client, start + Duration::from_secs(20)), Ok(()));
        assert!(limit.take(client, start + Duration::from_secs(21)).is_err());
    }

    #[test]
    fn zero_means_no_limit() {
        let limit = LoginRateLimit::new(0);
        let client: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..1000 {
            assert_eq!(limit.take(client, Instant::now()), Ok(()));
        }
    }
}
