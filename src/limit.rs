//! The server's one rate limiter: at most `burst` events at once per key, then a steady
//! `per_s` (or per minute), with the wait until the next allowed event (GCRA, from
//! `governor`). Request limits per address and per user (`http::rate_limit`) and app-log
//! uploads per user are all this type.
//!
//! The counts live in each replica's memory: behind N replicas a key gets up to N times the
//! rate, and a restart forgets them. Keys that have fully recovered are swept once the map
//! grows large, so a spray of keys cannot grow it without bound.

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

/// Keys held before fully recovered ones are swept.
const SWEEP_AT: usize = 10_000;
/// How often (in checks) the size is looked at: `len()` visits every shard of the map.
const SWEEP_EVERY: u64 = 1024;

pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    fn with_quota(quota: Quota) -> Self {
        KeyedLimiter {
            limiter: RateLimiter::keyed(quota),
            checks: AtomicU64::new(0),
        }
    }

    /// `per_s` a second after a burst of `burst`; `None` when either is 0 (disabled).
    pub fn per_second(per_s: u32, burst: u32) -> Option<Self> {
        let quota = Quota::per_second(NonZeroU32::new(per_s)?).allow_burst(NonZeroU32::new(burst)?);
        Some(Self::with_quota(quota))
    }

    /// `per_minute` events per minute, all of which may come at once; 0 is taken as 1
    /// (settings validation refuses 0 before this is reached).
    pub fn per_minute(per_minute: u32) -> Self {
        Self::with_quota(Quota::per_minute(
            NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN),
        ))
    }

    /// Counts one event for `key`; `Err(seconds)` to wait when over the limit, in whole
    /// seconds rounded up, so a client that waits as told is let through.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        if self.checks.fetch_add(1, Ordering::Relaxed).is_multiple_of(SWEEP_EVERY) && self.limiter.len() >= SWEEP_AT {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(key).map_err(|refused| {
            let wait = refused.wait_time_from(self.limiter.clock().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_its_burst_with_a_wait_and_zero_disables() {
        let limiter = KeyedLimiter::per_second(1, 2).unwrap();
        assert!(limiter.check(&1).is_ok());
        assert!(limiter.check(&1).is_ok());
        assert_eq!(limiter.check(&1), Err(1));
        assert!(limiter.check(&2).is_ok());
        assert!(KeyedLimiter::<u8>::per_second(0, 5).is_none());
    }

    #[test]
    fn allows_the_quota_per_minute_per_key_then_says_how_long_to_wait() {
        let limiter = KeyedLimiter::per_minute(2);
        assert!(limiter.check(&"a").is_ok());
        assert!(limiter.check(&"a").is_ok());
        let wait = limiter.check(&"a").unwrap_err();
        assert!((1..=30).contains(&wait), "{wait}");
        assert!(limiter.check(&"b").is_ok());
    }
}
