//! A small keyed rate limiter: at most N events per minute per key (GCRA, so N may come at
//! once and then one every 60/N seconds), with the wait until the next allowed event.
//!
//! It lives here until a shared limiter exists in `src/http`; nothing in it is app-log
//! specific. Like the login throttle, the state is per server: behind N replicas a client
//! gets at most N times the rate.

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::hash::Hash;
use std::num::NonZeroU32;

/// Keys kept before idle ones are swept, bounding memory under a spray of keys.
const SWEEP_AT: usize = 100_000;

pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// `per_minute` events per minute per key; 0 is taken as 1 (settings validation refuses
    /// 0 before this is reached).
    pub fn per_minute(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        KeyedLimiter {
            limiter: RateLimiter::keyed(Quota::per_minute(n)),
        }
    }

    /// Counts one event for `key`; `Err(seconds)` to wait when over the limit.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        if self.limiter.len() >= SWEEP_AT {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.limiter.clock().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_quota_per_key_then_says_how_long_to_wait() {
        let limiter = KeyedLimiter::per_minute(2);
        assert!(limiter.check(&"a").is_ok());
        assert!(limiter.check(&"a").is_ok());
        let wait = limiter.check(&"a").unwrap_err();
        assert!((1..=30).contains(&wait), "{wait}");
        assert!(limiter.check(&"b").is_ok());
    }
}
