//! A secret being set up, kept in the browser's session (sealed, bound to the account) until
//! a code from the app confirms it: nothing is written to the account before then.
use super::totp;
use crate::error::AppError;
use crate::integrations::crypto::Keyring;
use crate::server_ctx::internal;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use uuid::Uuid;

const KEY: &str = "totp_enrolling";

#[derive(Serialize, Deserialize)]
struct Pending {
    user: Uuid,
    sealed: String,
    version: i32,
}

/// A new secret for `user`, replacing any earlier one being set up.
pub async fn begin(session: &Session, keyring: &Keyring, user: Uuid) -> Result<Vec<u8>, AppError> {
    let secret = totp::new_secret();
    let (sealed, version) = totp::seal(keyring, user, &secret);
    session.insert(KEY, Pending { user, sealed: hex::encode(sealed), version }).await.map_err(internal)?;
    Ok(secret)
}

/// The secret `user` is setting up in this session, if any.
pub async fn secret(session: &Session, keyring: &Keyring, user: Uuid) -> Result<Option<Vec<u8>>, AppError> {
    let Some(p) = session.get::<Pending>(KEY).await.ok().flatten() else { return Ok(None) };
    if p.user != user {
        return Ok(None);
    }
    let sealed = hex::decode(&p.sealed).map_err(internal)?;
    Ok(totp::open(keyring, user, &sealed, p.version).ok())
}

pub async fn end(session: &Session) -> Result<(), AppError> {
    session.remove::<Pending>(KEY).await.map_err(internal)?;
    Ok(())
}
