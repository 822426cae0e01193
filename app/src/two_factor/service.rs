//! An account's second factor in the database: reading it at sign-in, checking and spending a
//! code, enrolling, new recovery codes, turning it off. Every change runs in the account's own
//! transaction (`db::account`), which row-level security lets touch that account alone.
use super::totp;
use crate::domain::Role;
use crate::error::AppError;
use crate::server_ctx::AppState;
use sqlx::PgConnection;
use uuid::Uuid;

/// What sign-in needs to know after the password.
#[derive(Clone, Debug)]
pub struct AtSignIn {
    pub enabled: bool,
    /// Who requires a second factor of this account (company names, or the platform's rule).
    pub required_by: Vec<String>,
}

pub const SUPER_ADMIN_RULE: &str = "Atrium (every super-admin, in production)";

pub async fn at_sign_in(
    conn: &mut PgConnection,
    user: Uuid,
    role: Role,
    production: bool,
) -> Result<AtSignIn, AppError> {
    let enabled =
        sqlx::query_scalar!(r#"SELECT totp_enabled_at IS NOT NULL AS "enabled!" FROM users WHERE id = $1"#, user)
            .fetch_one(&mut *conn)
            .await?;
    let mut required_by = sqlx::query_scalar!(
        "SELECT c.name FROM memberships m JOIN companies c ON c.id = m.company_id
          WHERE m.user_id = $1 AND m.status = 'ACTIVE' AND c.require_two_factor AND c.deleted_at IS NULL
          ORDER BY c.name",
        user
    )
    .fetch_all(&mut *conn)
    .await?;
    if role == Role::SuperAdmin && production {
        required_by.insert(0, SUPER_ADMIN_RULE.into());
    }
    Ok(AtSignIn { enabled, required_by })
}

/// Which kind of code let someone in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factor {
    Totp,
    RecoveryCode,
}

impl Factor {
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Totp => "totp",
            Factor::RecoveryCode => "recovery_code",
        }
    }
}

pub const WRONG_CODE: &str =
    "That code is not right. Type the newest 6-digit code from your app (check its clock), or a recovery code.";

/// Checks `code` (6 digits from the app, or, with `allow_recovery`, a recovery code) and spends
/// it: a TOTP step or a recovery code is accepted once, even by two requests at the same moment
/// (the guarded UPDATEs decide). None when it is not right.
pub async fn verify_and_spend(
    conn: &mut PgConnection,
    st: &AppState,
    user: Uuid,
    code: &str,
    allow_recovery: bool,
) -> Result<Option<Factor>, AppError> {
    let row = sqlx::query!(
        "SELECT email, totp_secret_sealed, totp_key_version, totp_last_step FROM users WHERE id = $1",
        user
    )
    .fetch_one(&mut *conn)
    .await?;
    let (Some(sealed), Some(version)) = (row.totp_secret_sealed, row.totp_key_version) else { return Ok(None) };
    match totp::open(&st.credentials, user, &sealed, version) {
        Ok(secret) => {
            if let Some(step) = totp::check(&secret, &row.email, code, totp::now(), row.totp_last_step) {
                let spent = sqlx::query!(
                    "UPDATE users SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
                    user,
                    step
                )
                .execute(&mut *conn)
                .await?
                .rows_affected();
                return Ok((spent == 1).then_some(Factor::Totp));
            }
        }
        // Sealed under a root secret this process no longer has (a rotation finished without
        // `atrium rotate-secret`): the recovery codes still let the owner in.
        Err(e) => tracing::warn!(user = %user, "a two-factor secret cannot be opened: {e}"),
    }
    if !allow_recovery {
        return Ok(None);
    }
    // Codes are hashed under the pepper of their day; during a rotation the previous one counts too.
    for pepper in std::iter::once(&st.pepper).chain(st.pepper_previous.as_ref()) {
        let Some(hash) = totp::recovery_hash(pepper, code) else { return Ok(None) };
        let spent = sqlx::query!(
            "UPDATE users SET totp_recovery_codes = array_remove(totp_recovery_codes, $2)
              WHERE id = $1 AND $2 = ANY(totp_recovery_codes)",
            user,
            &hash
        )
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if spent == 1 {
            return Ok(Some(Factor::RecoveryCode));
        }
    }
    Ok(None)
}

/// Tells the account's owner by mail (when mail is on) that how it signs in changed.
pub async fn notify_owner(
    conn: &mut PgConnection,
    st: &AppState,
    to: crate::mail::Recipient,
    email: &str,
    what: &str,
) -> Result<(), AppError> {
    if !st.mail.enabled {
        return Ok(());
    }
    let letter = crate::mail::letters::security_notice(
        email,
        what,
        &crate::mail::now_text(),
        &st.mail.link("/account/two-factor"),
    );
    crate::mail::queue(conn, &st.credentials, to, &letter, None).await?;
    Ok(())
}

/// Turns the second factor on with `secret`, once a code from the app proves it was scanned.
/// The recovery codes, shown once.
pub async fn enable(
    conn: &mut PgConnection,
    st: &AppState,
    user: Uuid,
    secret: &[u8],
    code: &str,
) -> Result<Vec<String>, AppError> {
    let email = sqlx::query_scalar!("SELECT email FROM users WHERE id = $1", user).fetch_one(&mut *conn).await?;
    let step = totp::check(secret, &email, code, totp::now(), None).ok_or_else(|| {
        AppError::field("code", "That code is not right. Type the 6-digit code your app shows now for Atrium.")
    })?;
    let (sealed, version) = totp::seal(&st.credentials, user, secret);
    let (codes, hashes) = totp::recovery_codes(&st.pepper);
    let enabled = sqlx::query!(
        "UPDATE users SET totp_secret_sealed = $2, totp_key_version = $3, totp_enabled_at = now(),
                          totp_last_step = $4, totp_recovery_codes = $5, totp_codes_pepper_id = $6
          WHERE id = $1 AND totp_secret_sealed IS NULL",
        user,
        &sealed,
        version,
        step,
        &hashes,
        st.pepper.id(),
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if enabled != 1 {
        return Err(AppError::Conflict("Two-factor sign-in is already on for this account.".into()));
    }
    Ok(codes)
}

/// New recovery codes; the earlier ones stop working.
pub async fn new_recovery_codes(conn: &mut PgConnection, st: &AppState, user: Uuid) -> Result<Vec<String>, AppError> {
    let (codes, hashes) = totp::recovery_codes(&st.pepper);
    sqlx::query!(
        "UPDATE users SET totp_recovery_codes = $2, totp_codes_pepper_id = $3
          WHERE id = $1 AND totp_secret_sealed IS NOT NULL",
        user,
        &hashes,
        st.pepper.id(),
    )
    .execute(&mut *conn)
    .await?;
    Ok(codes)
}

/// Turns the second factor off (the secret and every recovery code go).
pub async fn clear(conn: &mut PgConnection, user: Uuid) -> Result<bool, AppError> {
    Ok(sqlx::query!(
        "UPDATE users SET totp_secret_sealed = NULL, totp_key_version = NULL, totp_enabled_at = NULL,
                          totp_last_step = NULL, totp_recovery_codes = '{}', totp_codes_pepper_id = NULL
          WHERE id = $1 AND totp_secret_sealed IS NOT NULL",
        user
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

pub async fn status_row(conn: &mut PgConnection, user: Uuid) -> Result<(Option<time::OffsetDateTime>, i32), AppError> {
    let r = sqlx::query!(
        r#"SELECT totp_enabled_at, cardinality(totp_recovery_codes) AS "left!" FROM users WHERE id = $1"#,
        user
    )
    .fetch_one(conn)
    .await?;
    Ok((r.totp_enabled_at, r.left))
}

/// `atrium rotate-secret`: every two-factor secret sealed under an earlier root is sealed again
/// under the current one (as the schema owner). Recovery codes are hashes and cannot move: the
/// answer also counts the accounts whose codes still need the previous secret.
pub async fn reseal_all(
    conn: &mut PgConnection,
    keyring: &crate::integrations::crypto::Keyring,
    pepper: &crate::api_keys::secret::Pepper,
) -> Result<(u64, i64), AppError> {
    let rows = sqlx::query!(
        r#"SELECT id, totp_secret_sealed AS "sealed!", totp_key_version AS "version!" FROM users
            WHERE totp_secret_sealed IS NOT NULL AND totp_key_version <> $1
            FOR UPDATE"#,
        keyring.current_version()
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut n = 0;
    for r in rows {
        let secret = totp::open(keyring, r.id, &r.sealed, r.version)
            .map_err(|e| AppError::Conflict(format!("the two-factor secret of account {}: {e}", r.id)))?;
        let (sealed, version) = totp::seal(keyring, r.id, &secret);
        sqlx::query!(
            "UPDATE users SET totp_secret_sealed = $2, totp_key_version = $3 WHERE id = $1",
            r.id,
            sealed,
            version
        )
        .execute(&mut *conn)
        .await?;
        n += 1;
    }
    let codes_left = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM users
            WHERE cardinality(totp_recovery_codes) > 0 AND totp_codes_pepper_id IS DISTINCT FROM $1"#,
        pepper.id()
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((n, codes_left))
}

/// `atrium reset-two-factor`: the operator's way back in for an account that lost its phone
/// and its codes (a super-admin above all). Returns whether there was anything to turn off.
pub async fn reset_by_operator(conn: &mut PgConnection, user: Uuid) -> Result<bool, AppError> {
    let cleared = clear(&mut *conn, user).await?;
    if cleared {
        sqlx::query!("UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL", user)
            .execute(&mut *conn)
            .await?;
    }
    Ok(cleared)
}
