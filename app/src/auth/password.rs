//! argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane), run off the async runtime.
use crate::error::AppError;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::LazyLock;
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};

/// argon2 runs at most this many at once (one per core): each holds 19 MiB and a core, so a
/// flood of sign-ins queues here instead of exhausting memory or starving every request.
static PERMITS: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)));
/// How long a password check waits for a free core before the server says it is busy (the
/// waiters hold no argon2 memory; a loaded 2-core machine takes up to a second per check).
const QUEUE_WAIT: Duration = Duration::from_secs(5);
/// The Retry-After a busy answer carries.
pub const BUSY_RETRY_SECONDS: i64 = 5;

async fn permit() -> Result<SemaphorePermit<'static>, AppError> {
    match tokio::time::timeout(QUEUE_WAIT, PERMITS.acquire()).await {
        Ok(Ok(p)) => Ok(p),
        _ => {
            crate::server_ctx::retry_after(BUSY_RETRY_SECONDS);
            Err(AppError::Unavailable("The server is busy checking passwords. Try again in a moment.".into()))
        }
    }
}

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(19 * 1024, 2, 1, None).expect("valid argon2 params"))
}

/// Verified against when the account does not exist, so both failures cost the same.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    argon2().hash_password(b"atrium-dummy-password", &salt).expect("hash").to_string()
});

pub fn validate_new_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < 12 {
        return Err("Use at least 12 characters.".into());
    }
    if n > 256 {
        return Err("Use at most 256 characters.".into());
    }
    Ok(())
}

pub async fn hash(password: String) -> Result<String, AppError> {
    let _permit = permit().await?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2().hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
    })
    .await
    .map_err(crate::server_ctx::internal)?
    .map_err(crate::server_ctx::internal)
}

/// True when `password` matches `stored`. With no stored hash, checks a dummy and fails.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, AppError> {
    let _permit = permit().await?;
    tokio::task::spawn_blocking(move || {
        let (hash, real) = match stored {
            Some(h) => (h, true),
            None => (DUMMY_HASH.clone(), false),
        };
        let ok = match PasswordHash::new(&hash) {
            Ok(parsed) => argon2().verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(_) => {
                // A malformed stored hash still pays for one verification.
                let parsed = PasswordHash::new(&DUMMY_HASH).expect("dummy hash parses");
                let _ = argon2().verify_password(password.as_bytes(), &parsed);
                false
            }
        };
        ok && real
    })
    .await
    .map_err(crate::server_ctx::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_check_beyond_the_cores_waits_then_says_busy() {
        let all = PERMITS.available_permits() as u32;
        let held = PERMITS.acquire_many(all).await.unwrap();
        let started = std::time::Instant::now();
        let answer = verify("whatever".into(), None).await;
        assert!(matches!(answer, Err(AppError::Unavailable(_))), "{answer:?}");
        assert!(started.elapsed() >= QUEUE_WAIT);
        drop(held);
        assert!(!verify("whatever".into(), None).await.unwrap());
    }
}

/// A one-time link's token: 256 random bits in hex, and the SHA-256 that alone is stored.
pub fn one_time_token() -> (String, Vec<u8>) {
    use rand::RngCore;
    use sha2::Digest;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let hash = sha2::Sha256::digest(token.as_bytes()).to_vec();
    (token, hash)
}
