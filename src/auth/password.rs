//! Password hashing: argon2id with the crate's defaults (OWASP's minimum: 19 MiB, t=2, p=1).
//! Hashing is deliberately slow: requests hash through a [`Hasher`], which bounds how many
//! run at once on the blocking pool.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

pub fn hash(password: &str) -> anyhow::Result<String> {
    let hash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?;
    Ok(hash.to_string())
}

/// Verifies `password` against a stored hash. With no hash (an unknown email, or a user
/// without a password) it verifies against a fixed dummy hash and fails, so that both cases
/// cost the same time as a wrong password and cannot be told apart.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("muster-timing-equaliser").unwrap_or_default());
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), stored.unwrap_or(dummy))
        .is_ok();
    ok && stored.is_some()
}

/// How many password hashes may run at once, and how long a request waits for its turn.
#[derive(Clone, Copy, Debug)]
pub struct HashLimits {
    pub concurrency: usize,
    pub max_wait: Duration,
}

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot stayed taken for the whole wait: the caller should come back.
    #[error("the server is busy checking other passwords")]
    Busy { retry_after: Duration },
    #[error("hashing a password: {0}")]
    Failed(String),
}

/// The one way requests hash and verify passwords: at most `concurrency` argon2 runs at
/// once (each holds 19 MiB and a core for tens of milliseconds), the rest wait their turn
/// in arrival order. Unbounded, a burst of logins at shift start would take one blocking
/// thread and 19 MiB each (64 logins: over 1 GiB) and starve check-ins of CPU; bounded,
/// memory stays at `concurrency` × 19 MiB and the burst is served at the machine's rate.
/// A request that cannot start within `max_wait` is refused (503 with `Retry-After`)
/// rather than held until the client gives up.
#[derive(Clone)]
pub struct Hasher {
    slots: Arc<Semaphore>,
    limits: HashLimits,
}

impl Hasher {
    pub fn new(limits: HashLimits) -> Self {
        let concurrency = limits.concurrency.max(1);
        Hasher {
            slots: Arc::new(Semaphore::new(concurrency)),
            limits: HashLimits { concurrency, ..limits },
        }
    }

    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move || hash(&password).map_err(|e| HashError::Failed(e.to_string())))
            .await?
    }

    /// [`verify`] in a slot.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, HashError> {
        self.run(move || verify(&password, stored.as_deref())).await
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let waited = Instant::now();
        let slot = tokio::time::timeout(self.limits.max_wait, self.slots.clone().acquire_owned()).await;
        metrics::histogram!("muster_password_hash_wait_seconds").record(waited.elapsed().as_secs_f64());
        let Ok(Ok(slot)) = slot else {
            metrics::counter!("muster_password_hash_busy_total").increment(1);
            return Err(HashError::Busy {
                retry_after: self.limits.max_wait.max(Duration::from_secs(1)),
            });
        };
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            work()
        })
        .await
        .map_err(|e| HashError::Failed(e.to_string()))
    }
}

/// A random password for the bootstrap admin: 24 characters from a 62-letter alphabet
/// (about 143 bits).
pub fn random_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..24)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The minimum a new password must meet.
pub fn check_strength(password: &str) -> Result<(), &'static str> {
    if password.chars().count() < 12 {
        return Err("must be at least 12 characters");
    }
    if password.len() > 1024 {
        return Err("must be at most 1024 bytes");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{HashError, HashLimits, Hasher};
    use std::time::Duration;

    #[tokio::test]
    async fn a_hash_waits_for_a_slot_and_is_refused_past_the_wait() {
        let hasher = Hasher::new(HashLimits {
            concurrency: 1,
            max_wait: Duration::from_millis(50),
        });
        let taken = hasher.slots.clone().acquire_owned().await.unwrap();
        match hasher.verify("pw".into(), None).await {
            Err(HashError::Busy { retry_after }) => assert!(retry_after >= Duration::from_secs(1)),
            other => panic!("expected Busy, got {other:?}"),
        }
        // Freed in time, the waiting request gets the slot.
        let waiting = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.hash("a long enough password".into()).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        drop(taken);
        let hashed = waiting.await.unwrap().expect("hashed once the slot was free");
        assert!(
            hasher
                .verify("a long enough password".into(), Some(hashed))
                .await
                .unwrap()
        );
    }

    #[test]
    fn concurrency_is_at_least_one() {
        let hasher = Hasher::new(HashLimits {
            concurrency: 0,
            max_wait: Duration::ZERO,
        });
        assert_eq!(hasher.slots.available_permits(), 1);
    }

    #[test]
    fn hashes_verify_and_missing_hashes_never_do() {
        let h = super::hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("correct horse battery", Some(&h)));
        assert!(!super::verify("wrong", Some(&h)));
        assert!(!super::verify("muster-timing-equaliser", None));
    }
}
