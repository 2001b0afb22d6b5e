//! Password hashing: argon2id with the crate's defaults (OWASP's minimum: 19 MiB, t=2, p=1).
//! Hashing is deliberately slow, so callers run it on the blocking pool.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use std::sync::OnceLock;

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
    #[test]
    fn hashes_verify_and_missing_hashes_never_do() {
        let h = super::hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("correct horse battery", Some(&h)));
        assert!(!super::verify("wrong", Some(&h)));
        assert!(!super::verify("muster-timing-equaliser", None));
    }
}
