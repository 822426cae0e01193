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

/// Checks `code` (6 digits from the app, or a recovery code) and spends it: a TOTP step or a
/// recovery code is accepted once, even by two requests at the same moment (the guarded
/// UPDATEs decide). None when it is not right.
pub async fn verify_and_spend(
    conn: &mut PgConnection,
    st: &AppState,
    user: Uuid,
    code: &str,
) -> Result<Option<Factor>, AppError> {
    let row = sqlx::query!(
        "SELECT email, totp_secret_sealed, totp_key_version, totp_last_step FROM users WHERE id = $1",
        user
    )
    .fetch_one(&mut *conn)
    .await?;
    let (Some(sealed), Some(version)) = (row.totp_secret_sealed, row.totp_key_version) else { return Ok(None) };
    let secret = totp::open(&st.credentials, user, &sealed, version).map_err(crate::server_ctx::internal)?;
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
    let Some(hash) = totp::recovery_hash(&st.pepper, code) else { return Ok(None) };
    let spent = sqlx::query!(
        "UPDATE users SET totp_recovery_codes = array_remove(totp_recovery_codes, $2)
          WHERE id = $1 AND $2 = ANY(totp_recovery_codes)",
        user,
        &hash
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok((spent == 1).then_some(Factor::RecoveryCode))
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
                          totp_last_step = $4, totp_recovery_codes = $5
          WHERE id = $1 AND totp_secret_sealed IS NULL",
        user,
        &sealed,
        version,
        step,
        &hashes,
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
        "UPDATE users SET totp_recovery_codes = $2 WHERE id = $1 AND totp_secret_sealed IS NOT NULL",
        user,
        &hashes
    )
    .execute(&mut *conn)
    .await?;
    Ok(codes)
}

/// Turns the second factor off (the secret and every recovery code go).
pub async fn clear(conn: &mut PgConnection, user: Uuid) -> Result<bool, AppError> {
    Ok(sqlx::query!(
        "UPDATE users SET totp_secret_sealed = NULL, totp_key_version = NULL, totp_enabled_at = NULL,
                          totp_last_step = NULL, totp_recovery_codes = '{}'
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
