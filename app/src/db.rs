//! Transactions that carry their tenant, and nothing else: who may open which is decided in
//! `access`. Request-serving connections run as `atrium_app`,
//! whose row-level security policies read `app.company_id` and `app.user_id`; these helpers
//! are the only place those settings are made, and always with `is_local`, so they end with
//! the transaction and never leak to the next user of the pooled connection.
use crate::error::AppError;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

pub type Tx = Transaction<'static, Postgres>;

async fn begin_with(pool: &PgPool, company: Option<Uuid>, user: Option<Uuid>) -> Result<Tx, AppError> {
    let mut tx = pool.begin().await?;
    let company = company.map(|c| c.to_string()).unwrap_or_default();
    let user = user.map(|u| u.to_string()).unwrap_or_default();
    sqlx::query!(
        r#"SELECT set_config('app.company_id', $1, true) AS "company", set_config('app.user_id', $2, true) AS "user",
                  set_config('atrium.actor_id', $2, true) AS "actor""#,
        company,
        user,
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(tx)
}

/// One company's data, as `user` (None for the system or a not-yet-signed-in visitor).
pub async fn tenant(pool: &PgPool, company: Uuid, user: Option<Uuid>) -> Result<Tx, AppError> {
    begin_with(pool, Some(company), user).await
}

/// No company: the user's own account, memberships and sessions only.
pub async fn account(pool: &PgPool, user: Uuid) -> Result<Tx, AppError> {
    begin_with(pool, None, Some(user)).await
}

/// No company and no user: sees no tenant rows at all (sign-in throttling, sessions).
pub async fn anonymous(pool: &PgPool) -> Result<Tx, AppError> {
    begin_with(pool, None, None).await
}

/// A read-only transaction across companies as `atrium_platform`, for a read already put on
/// record by `access::platform_read` (an export continues the read its page started). The role is
/// set with the other settings, in the same round trip (`set_config('role', …)` is
/// `SET LOCAL ROLE`).
pub async fn platform(pool: &PgPool, user: Uuid) -> Result<Tx, AppError> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        r#"SELECT set_config('app.company_id', '', true) AS "company", set_config('app.user_id', $1, true) AS "user",
                  set_config('atrium.actor_id', $1, true) AS "actor", set_config('role', 'atrium_platform', true) AS "role""#,
        user.to_string(),
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(tx)
}
