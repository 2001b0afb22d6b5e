//! Failed-login throttling per account and per client address.
//!
//! Only failures count, in a fixed window per key; a key over its limit is refused with a
//! `Retry-After` until its window ends. The state is per server: behind N replicas an
//! attacker gets at most N times the limit, which still stops online guessing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept before expired ones are swept, bounding memory under a spray of keys.
const SWEEP_AT: usize = 100_000;

pub struct FailureThrottle {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl FailureThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        FailureThrottle {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds)` while `key` is over its limit.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match failures.get(key) {
            Some((count, start)) if *count >= self.max_failures && start.elapsed() < self.window => {
                Err((self.window - start.elapsed()).as_secs() + 1)
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= SWEEP_AT {
            let window = self.window;
            failures.retain(|_, (_, start)| start.elapsed() < window);
        }
        let entry = failures.entry(key.to_owned()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_limit_until_the_window_ends() {
        let t = FailureThrottle::new(2, Duration::from_millis(50));
        t.record_failure("a");
        assert!(t.check("a").is_ok());
        t.record_failure("a");
        assert!(t.check("a").is_err());
        assert!(t.check("b").is_ok());
        std::thread::sleep(Duration::from_millis(60));
        assert!(t.check("a").is_ok());
    }
}
