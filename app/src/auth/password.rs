//! argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane), run off the async runtime.
use crate::error::AppError;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::LazyLock;

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
